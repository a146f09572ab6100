import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import pino from 'pino';
import type { Backend } from '../../src/election/backend.js';
import { createBackend } from '../../src/election/create-backend.js';
import { BackendStorageError, BackendUnavailableError } from '../../src/errors.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

const logger = pino({ level: 'silent' });
const TTL_MS = 2000;
const me = { node: 'n', host: 'h', pid: 1, since: new Date(0).toISOString() };

/**
 * What the Redis driver does beyond the conformance suite: its keys share one hash slot, the
 * script cache may be empty (NOSCRIPT → EVAL), a foreign layout and a replica are refused, the
 * password in the URL is used, and tokens survive a restart of the server.
 */
describe('redis backend: layout, scripts, refusals', { timeout: 60_000 }, () => {
  let redis: RedisServer;
  const open: Backend[] = [];
  const backend = async (cluster: string, url = redis.url): Promise<Backend> => {
    const b = await createBackend({ type: 'redis', url }, { cluster, ttlMs: TTL_MS, logger });
    open.push(b);
    return b;
  };
  before(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });
  after(() => redis?.stop());

  it('keeps every key of a cluster in one hash slot, under lockd:{<cluster>}:', async () => {
    const b = await backend('slots');
    const lease = await b.campaign(me);
    await b.guardedPut(lease, 'runs/j/1', 'x');
    const lock = await b.tryAcquire('L');
    assert.ok(lock);
    const keys = ((await redis.send(['KEYS', '*'])) as string[]).filter((k) => k.includes('{slots}'));
    assert.ok(keys.length >= 8, `keys: ${keys.join(', ')}`);
    assert.ok(keys.every((k) => k.startsWith('lockd:{slots}:')), keys.join(', '));
    // Redis Cluster hashes only the hash tag (CLUSTER KEYSLOT needs cluster mode): one tag, one slot.
    const tags = new Set(keys.map(hashTag));
    assert.deepEqual([...tags], ['slots']);
    // No key carries a TTL: sessions end by the reaper's rule only.
    for (const k of keys) assert.equal(await redis.send(['PTTL', k]), -1, `${k} has a TTL`);
  });

  it('runs its scripts after SCRIPT FLUSH (NOSCRIPT falls back to EVAL)', async () => {
    const b = await backend('flush');
    await b.put('a/1', 'one');
    await redis.send(['SCRIPT', 'FLUSH']);
    await b.put('a/2', 'two');
    assert.deepEqual(await b.list('a/'), [
      { key: 'a/1', value: 'one' },
      { key: 'a/2', value: 'two' },
    ]);
  });

  it('lists keys under a prefix in code point order, not below a sibling prefix', async () => {
    const b = await backend('order');
    for (const key of ['p/b', 'p/a', 'p/é', 'p/z/1', 'p0', 'p', 'q/x', 'p/\u{1F600}']) await b.put(key, key);
    assert.deepEqual(
      (await b.list('p/')).map((kv) => kv.key),
      ['p/a', 'p/b', 'p/z/1', 'p/é', 'p/\u{1F600}'],
    );
    await b.delete('p/b');
    await b.delete('p/missing');
    assert.equal(await b.get('p/b'), undefined);
    assert.equal((await b.list('p/')).length, 4);
  });

  it('refuses keys of another format', async () => {
    await redis.send(['HSET', 'lockd:{foreign}:meta', 'format', 'other', 'version', '9']);
    await assert.rejects(backend('foreign'), (err: Error) => err instanceof BackendStorageError && /format/.test(err.message));
  });

  it('marks keys of format version 1 as version 2 (queue members may be sid#<hold>), refuses a later version', async () => {
    await redis.send(['HSET', 'lockd:{v1}:meta', 'format', 'lockd', 'version', '1']);
    const upgraded = await backend('v1');
    assert.equal(await redis.send(['HGET', 'lockd:{v1}:meta', 'version']), '2');
    const one = await upgraded.acquireSeat('pool', 2);
    const two = await upgraded.tryAcquireSeat('pool', 2);
    assert.ok(two && two.token > one.token, 'one backend holds two seats of the set');
    await redis.send(['HSET', 'lockd:{v3}:meta', 'format', 'lockd', 'version', '3']);
    await assert.rejects(backend('v3'), (err: Error) => err instanceof BackendStorageError && /version 2/.test(err.message));
  });

  it('uses the password in the URL; a wrong one is a BackendStorageError, no server a BackendUnavailableError', async () => {
    await redis.send(['ACL', 'SETUSER', 'lockd', 'on', '>s3cret', '~*', '&*', '+@all']);
    const port = redis.port;
    const b = await backend('auth', `redis://lockd:s3cret@127.0.0.1:${port}`);
    await b.put('k', 'v');
    assert.equal(await b.get('k'), 'v');
    await assert.rejects(backend('auth', `redis://lockd:wrong@127.0.0.1:${port}`), (err: Error) => {
      assert.ok(err instanceof BackendStorageError, String(err));
      assert.ok(!err.message.includes('wrong'), 'the message must not show the password');
      return true;
    });
    await assert.rejects(backend('auth', 'redis://127.0.0.1:1'), BackendUnavailableError);
  });

  it('refuses a server that may evict any key (maxmemory-policy allkeys-*)', async () => {
    await redis.send(['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru']);
    try {
      await assert.rejects(backend('evict'), (err: Error) => err instanceof BackendStorageError && /allkeys-lru/.test(err.message));
    } finally {
      await redis.send(['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
    }
    await backend('evict');
  });

  it('refuses a replica', async () => {
    const replica = await startRedis();
    try {
      await replica.send(['REPLICAOF', '127.0.0.1', String(redis.port)]);
      await assert.rejects(backend('replica', replica.url), (err: Error) => err instanceof BackendStorageError && /primary/.test(err.message));
    } finally {
      await replica.stop();
    }
  });

  it('tokens keep growing across a kill -9 and restart of the server (AOF always)', async () => {
    const a = await backend('restart');
    const first = await a.campaign(me);
    await first.release();
    redis.kill9();
    await redis.restart();
    const b = await backend('restart');
    const second = await b.campaign(me);
    assert.ok(second.token > first.token, `${second.token} after ${first.token}`);
  });

  it('tokens keep growing when the server loses its data (the floor is the server time in µs)', async () => {
    const a = await backend('loss');
    const first = await a.campaign(me);
    await first.release();
    await a.close();
    await redis.send(['FLUSHALL']);
    const b = await backend('loss');
    const second = await b.campaign(me);
    assert.ok(second.token > first.token, `${second.token} after ${first.token}`);
    assert.ok(second.token < 2n ** 53n);
  });
});

/** The part of `key` Redis Cluster hashes: between the first `{` and the next `}`, when not empty; else the whole key. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}
