import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createBackend } from '../../src/election/create-backend.js';
import type { Backend } from '../../src/election/backend.js';
import { EtcdRpc } from '../../src/election/etcd/etcd-rpc.js';
import { waitForDelete } from '../../src/election/etcd/etcd-watch.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';

const run = promisify(execFile);

/** etcd history compaction (DESIGN §3: "watch can fail on a compacted revision: re-read"). */
describe('etcd: compacted history', { timeout: 60_000 }, () => {
  let etcd: EtcdServer;
  const open: Backend[] = [];
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await Promise.allSettled(open.map((b) => b.close()));
    await etcd.stop();
  });

  /** Writes `n` revisions and compacts everything before the newest; returns that revision. */
  async function churnAndCompact(n: number): Promise<bigint> {
    for (let i = 0; i < n; i++) await run('etcdctl', ['--endpoints', etcd.endpoint, 'put', 'churn', String(i)]);
    const { stdout } = await run('etcdctl', ['--endpoints', etcd.endpoint, 'endpoint', 'status', '-w', 'json']);
    const revision = BigInt((JSON.parse(stdout) as Array<{ Status: { header: { revision: number } } }>)[0]!.Status.header.revision);
    await run('etcdctl', ['--endpoints', etcd.endpoint, 'compact', revision.toString()]);
    return revision;
  }

  it('a wait for a delete from a compacted revision returns (the caller re-reads) instead of hanging', async () => {
    const rpc = new EtcdRpc({ type: 'etcd', endpoints: [etcd.endpoint] }, 3000);
    try {
      const revision = await churnAndCompact(20);
      // Without the re-read path this would wait for a delete that never comes: give up after 10 s.
      await waitForDelete(rpc, 'never-deleted', revision - 10n, AbortSignal.timeout(10_000));
    } finally {
      rpc.close();
    }
  });

  it('a queued lock waiter gets the lock after history was compacted and etcd restarted under it', async () => {
    const make = async (): Promise<Backend> => {
      const b = await createBackend({ type: 'etcd', endpoints: [etcd.endpoint] }, { cluster: 'compaction', ttlMs: 10_000, logger: pino({ level: 'silent' }) });
      open.push(b);
      return b;
    };
    const [a, b] = [await make(), await make()];
    const held = await a.tryAcquire('job');
    assert.ok(held);
    const waiting = b.acquire('job', { signal: AbortSignal.timeout(30_000) });
    await churnAndCompact(50);
    await etcd.restart();
    await held.release();
    const lease = await waiting;
    assert.ok(lease.token > held.token);
    assert.ok(lease.isValid());
  });
});
