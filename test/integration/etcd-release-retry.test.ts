import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createBackend } from '../../src/election/create-backend.js';
import type { Backend } from '../../src/election/backend.js';
import { EtcdRpc } from '../../src/election/etcd/etcd-rpc.js';
import { BackendUnavailableError } from '../../src/errors.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';

/**
 * A release whose delete fails (the request never reached etcd) leaves the old key behind with a
 * retry pending. The next claim by the same session must not reuse that key: it gets a greater
 * token, and the pending retry must not delete it. The failure is injected at the client boundary
 * (the first 'delete key' txn throws without being sent); etcd itself is real.
 */
describe('etcd: a failed release is never reused by the next claim', { timeout: 60_000 }, () => {
  let etcd: EtcdServer;
  const open: Backend[] = [];
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await Promise.allSettled(open.map((b) => b.close()));
    await etcd.stop();
  });

  it('the next holder gets a greater token and keeps its key', async () => {
    const cluster = `retry${Date.now()}`;
    const make = async (): Promise<Backend> => {
      // TTL 10 s: RPCs time out after 3 s, well before the session would self-fence.
      const b = await createBackend({ type: 'etcd', endpoints: [etcd.endpoint] }, { cluster, ttlMs: 10_000, logger: pino({ level: 'silent' }) });
      open.push(b);
      return b;
    };
    const [a, other] = [await make(), await make()];
    const first = await a.tryAcquire('job');
    assert.ok(first);

    const txn = EtcdRpc.prototype.txn;
    let failed = false;
    EtcdRpc.prototype.txn = function (this: EtcdRpc, req, what) {
      if (what === 'delete key' && !failed) {
        failed = true;
        return Promise.reject(new BackendUnavailableError('etcd delete key: injected network failure'));
      }
      return txn.call(this, req, what);
    };
    try {
      await first.release();
    } finally {
      EtcdRpc.prototype.txn = txn;
    }
    assert.ok(failed, 'the release tried a delete');
    const second = await a.tryAcquire('job');
    assert.ok(second, 'the lock is free once the stale key is replaced');
    assert.ok(second.token > first.token, `token ${second.token} after ${first.token}`);

    // The failed delete is retried every 500 ms; for 2 s it must not take the new claim's key.
    for (let i = 0; i < 20; i++) {
      assert.equal(await other.tryAcquire('job'), null, 'the new holder lost its key');
      assert.ok(second.isValid());
      await new Promise((r) => setTimeout(r, 100));
    }
    await second.release();
  });
});
