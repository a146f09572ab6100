import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Backend } from '../../src/election/backend.js';
import { createBackend } from '../../src/election/create-backend.js';
import { RedisKeys } from '../../src/election/redis/redis-keys.js';
import { REDIS_FORMAT, REDIS_FORMAT_VERSION, REDIS_UPGRADABLE_VERSION, SCRIPTS, type LuaScript } from '../../src/election/redis/redis-scripts.js';
import { BackendUnavailableError } from '../../src/errors.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { startRedlockPrimaries, waitForVotes } from '../helpers/redlock-primaries.js';
import { waitFor } from '../helpers/wait-for.js';

const TTL_MS = 2000;
const logger = pino({ level: 'silent' });

/** Runs one of lockd's scripts on `server` by EVAL. */
function run(server: RedisServer, script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
  return server.send(['EVAL', script.source, String(keys.length), ...keys, ...args]);
}

/** Runs an epoch-checked script (every one but `init`, `recover`, `reap`, `bootMark`) in the layout `epoch` of `keys`. */
function runIn(server: RedisServer, keys: RedisKeys, epoch: string, script: LuaScript, scriptKeys: string[], args: string[]): Promise<unknown> {
  return run(server, script, [keys.meta, ...scriptKeys], [epoch, ...args]);
}

/**
 * The three points of Redlock mode that the process tests rely on, each shown on its own with
 * three real redis-servers: the compare-and-set that makes a token unique, the majority that
 * carries tokens from one holder to the next, and the delayed restart of a primary that lost its
 * data. Each test fails when its point is removed (see docs/backends/redis.md, "Redlock mode").
 */
describe('redis redlock: tokens and the delayed restart', { timeout: 120_000 }, () => {
  let servers: RedisServer[] = [];
  const open: Backend[] = [];
  const backend = async (cluster: string): Promise<Backend> => {
    const b = await createBackend({ type: 'redis', redlock: servers.map((s) => s.url) }, { cluster, ttlMs: TTL_MS, logger });
    open.push(b);
    return b;
  };
  before(async () => {
    servers = await startRedlockPrimaries(3, TTL_MS);
  });
  after(async () => {
    await Promise.allSettled(open.map((b) => b.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('two writers of one token: the compare-and-set lets only one of them reach a majority', async () => {
    const keys = new RedisKeys(`cas-${randomBytes(4).toString('hex')}`);
    const [a, b, c] = servers as [RedisServer, RedisServer, RedisServer];
    const epoch = 'cas-test';
    for (const server of servers) {
      assert.equal(await run(server, SCRIPTS.init, [keys.meta], [REDIS_FORMAT, String(REDIS_FORMAT_VERSION), String(REDIS_UPGRADABLE_VERSION), epoch]), `epoch:${epoch}`);
      for (const sid of ['x', 'y']) await runIn(server, keys, epoch, SCRIPTS.openSession, [keys.sess, keys.ren, keys.exp, keys.rtime], [sid, '60000', '{}']);
    }
    const enqueue = (server: RedisServer, sid: string): Promise<unknown> =>
      runIn(server, keys, epoch, SCRIPTS.enqueueAt, [keys.rev, keys.sess, keys.queue('lock/j'), keys.queueInfo('lock/j')], [sid, '', '0', '0', keys.channel, '1', '1000']);
    // x reaches a and b first, y reaches b and c: b has seen token 1000 already when y's write arrives.
    assert.deepEqual([await enqueue(a, 'x'), await enqueue(b, 'x')], ['ok', 'ok']);
    assert.deepEqual([await enqueue(b, 'y'), await enqueue(c, 'y')], ['behind', 'ok']);
  });

  it('a token reaches the next holder through any majority; with a minority up nothing is queued', async () => {
    const cluster = `carry-${randomBytes(4).toString('hex')}`;
    const keys = new RedisKeys(cluster);
    const [a, b, c] = servers as [RedisServer, RedisServer, RedisServer];
    try {
      const first = await backend(cluster);
      c.kill9();
      // A counter far above the clock: only the majority's write-back can carry it on.
      const ahead = BigInt(Date.now()) * 1000n + 10n ** 12n;
      await a.send(['SET', keys.rev, String(ahead)]);
      const lease = await first.tryAcquire('j');
      assert.ok(lease);
      assert.ok(lease.token > ahead);
      await lease.release();
      await c.restart();
      a.kill9();
      const second = await backend(cluster);
      const next = await second.tryAcquire('j', { signal: AbortSignal.timeout(10_000) });
      assert.ok(next, 'b and c are a majority');
      assert.ok(next.token > lease.token, `token ${next.token} from b and c is not above ${lease.token}, which a and b carried`);
      await next.release();
      b.kill9();
      await assert.rejects(second.tryAcquire('k'), BackendUnavailableError, 'one primary of three queued a holder');
    } finally {
      await Promise.all([a.restart(), b.restart()]);
      await waitForVotes(servers, TTL_MS);
    }
  });

  it('a primary that lost its data does not vote for one TTL: no second holder while the first one holds', async () => {
    const cluster = `delayed-${randomBytes(4).toString('hex')}`;
    const [a, b, c] = servers as [RedisServer, RedisServer, RedisServer];
    try {
      const holder = await backend(cluster);
      c.kill9();
      const lease = await holder.tryAcquire('j');
      assert.ok(lease, 'a and b are a majority');
      await c.restart();
      // The lock's row is on a and b only; a comes back empty and b dies: a and c know nothing of it.
      await a.restartEmpty();
      b.kill9();
      const other = await backend(cluster);
      // Until the holder's lease ends, every try must fail for want of a majority (a and c must not both vote).
      const attempts: string[] = [];
      let next: Awaited<ReturnType<Backend['tryAcquire']>> = null;
      await waitFor(
        'a second holder once the first one is over',
        async () => {
          const valid = lease.isValid();
          next = await other.tryAcquire('j').catch((err: Error) => {
            attempts.push(err instanceof BackendUnavailableError ? 'unavailable' : `failed: ${err.message}`);
            return null;
          });
          if (next !== null && valid) throw new Error(`acquired (token ${next.token}) while the first holder's lease was valid`);
          return next !== null;
        },
        6 * TTL_MS,
        50,
      );
      assert.ok(attempts.length > 0);
      assert.deepEqual([...new Set(attempts)], ['unavailable']);
      assert.ok((next as unknown as { token: bigint }).token > lease.token);
    } finally {
      await b.restart();
      await waitForVotes(servers, TTL_MS);
    }
  });
});
