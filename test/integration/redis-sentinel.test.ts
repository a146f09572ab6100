import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Backend } from '../../src/election/backend.js';
import { createBackend } from '../../src/election/create-backend.js';
import { BackendUnavailableError, ConfigError } from '../../src/errors.js';
import { startRedisSentinel, type RedisSentinelSet } from '../helpers/redis-sentinel.js';
import { waitFor } from '../helpers/wait-for.js';

const logger = pino({ level: 'silent' });
const TTL_MS = 2000;
const CLUSTER = 'failover';
const KV = `lockd:{${CLUSTER}}:kv`;
const me = { node: 'n', host: 'h', pid: 1, since: new Date(0).toISOString() };

/** Whether `err` is the failure of a write whose WAIT found too few replicas. */
const unconfirmed = (err: Error): boolean => err instanceof BackendUnavailableError && /WAIT/.test(err.message);

describe('redis backend through Sentinel', () => {
  it('refuses url and sentinel together, naming the line and column', () => {
    const text = ['backend:', '  type: redis', '  url: redis://cache:6379', '  sentinel:', '    master: mymaster', "    nodes: ['127.0.0.1:26379']", ''].join('\n');
    assert.throws(
      () => parseConfig(text, 'lockd.yaml', {}),
      (err: Error) => err instanceof ConfigError && err.problems.some((p) => p.line === 4 && p.col === 3 && p.message === 'backend: set either url or sentinel, not both'),
    );
  });

  describe('a failover (SIGKILL of the primary)', { timeout: 90_000 }, () => {
    let set: RedisSentinelSet;
    let backend: Backend | undefined;
    before(async () => {
      set = await startRedisSentinel();
    });
    after(async () => {
      await backend?.close();
      await set?.stop();
    });

    it('reconnects to the promoted replica by itself; no write counts without WAIT; tokens keep increasing', async () => {
      const [oldPrimary, replica] = set.dataNodes;
      const b = await createBackend(set.config(1), { cluster: CLUSTER, ttlMs: TTL_MS, logger });
      backend = b;
      const leadership = await b.campaign(me);
      const lock = await b.tryAcquire('before');
      assert.ok(lock);
      await b.guardedPut(leadership, 'runs/j/1', 'started');
      const issued = [leadership.token, lock.token];

      oldPrimary.kill9();
      // The sentinels still name the dead primary: the write fails, it does not wait for it.
      await assert.rejects(b.put('outage/dead', 'x'), BackendUnavailableError);

      await waitFor('every sentinel to name the replica as primary', async () => (await set.primaryPorts()).every((p) => p === replica.port), 30_000, 100);
      // The promoted replica has no replica of its own: WAIT 1 confirms nothing, so no write
      // counts, not even one the new primary ran, and no lock is taken.
      await assert.rejects(b.put('outage/alone', 'x'), unconfirmed);
      assert.equal(await replica.send(['HGET', KV, 'outage/alone']), 'x', 'the new primary ran the write whose WAIT failed');
      await assert.rejects(b.tryAcquire('during'), BackendUnavailableError);

      await oldPrimary.rejoinAsReplicaOf(replica.port);
      await waitFor('the old primary to sync as a replica', async () => /master_link_status:up/.test(String(await oldPrimary.send(['INFO', 'replication']))), 30_000, 100);
      // lockd reconnected through the sentinels by itself: a write is confirmed, and is on the replica.
      await b.put('after', 'y');
      assert.equal(await oldPrimary.send(['HGET', KV, 'after']), 'y');

      const next = await b.tryAcquire('after');
      assert.ok(next, 'a lock is free after the failover');
      for (const token of issued) assert.ok(next.token > token, `token ${next.token} after the failover is not above ${token}`);
    });
  });
});
