import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LockdCluster } from '../helpers/lockd-cluster.js';
import { ledgerJobCommand, readLedger, waitForLedger } from '../helpers/ledger.js';
import { pollLockdJson } from '../helpers/lockd-process.js';
import type { RunRecord } from '../../src/scheduler/records.js';
import { startZooKeeper, type ZkServer } from '../helpers/zookeeper-server.js';
import { CuratorPeer, compileCuratorPeer } from '../interop/curator/curator-peer.js';

interface Status {
  leader: { node: string } | null;
  candidates: Array<{ node: string }>;
}

/** Real `lockd run` replicas and a real Apache Curator participant in one election and one lock. */
describe('lockd daemons with an Apache Curator peer', { timeout: 120_000 }, () => {
  let zk: ZkServer;
  let classes: Awaited<ReturnType<typeof compileCuratorPeer>>;
  let peer: CuratorPeer;
  before(async () => {
    [zk, classes] = await Promise.all([startZooKeeper(), compileCuratorPeer()]);
  });
  after(async () => {
    await peer?.stop();
    classes.remove();
    await zk.stop();
  });

  const newCluster = () =>
    new LockdCluster(
      { name: 'zookeeper', setup: async () => undefined, teardown: async () => undefined, backendYaml: () => `  type: zookeeper\n  connect: ${zk.connect}` },
      { ttl: '3s' },
    );
  const tickJob = (ledger: string) => ['  tick:', '    schedule: "* * * * * *"', `    run: ${JSON.stringify(ledgerJobCommand(ledger))}`].join('\n');

  it('a Curator LeaderLatch and two lockd replicas: never two leaders; lockd status names the Curator leader', async () => {
    const cluster = newCluster();
    const ledger = cluster.file('ledger');
    peer = await CuratorPeer.start(classes.classDir, zk.connect, 3000);
    let violations = 0;
    const sampler = setInterval(() => {
      const believers = (peer.leads ? 1 : 0) + cluster.replicas.filter((r) => r.isLeaderNow()).length;
      if (believers > 1) violations += 1;
    }, 20);
    try {
      peer.send(`join /lockd/${cluster.cluster}/leader curator-1`);
      await peer.next('leader', 10_000);
      const replicas = ['a', 'b'].map((n) => cluster.start(n, tickJob(ledger)));
      const config = cluster.file('a.yaml');
      const status = await pollLockdJson<Status>(['status', '--json', '-c', config], (s) => s.candidates.length === 3);
      assert.equal(status.leader?.node, 'curator-1');
      assert.ok(replicas.every((r) => !r.isLeaderNow()));
      assert.deepEqual(readLedger(ledger), [], 'lockd ran a job while Curator led');

      peer.send('leave');
      await peer.next('left', 10_000);
      const { replica } = await cluster.nextLeader(10_000);
      await pollLockdJson<Status>(['status', '--json', '-c', config], (s) => s.leader?.node === replica.name);
      await waitForLedger(ledger, (e) => e.length >= 2, 10_000);
      assert.equal(violations, 0, 'two participants believed they led at the same moment');
    } finally {
      clearInterval(sampler);
      await peer.stop();
      await cluster.stop();
    }
  });

  it('a Curator InterProcessMutex on a job lock path keeps lockd from running that job (recorded skipped)', async () => {
    const cluster = newCluster();
    const ledger = cluster.file('ledger');
    peer = await CuratorPeer.start(classes.classDir, zk.connect, 3000);
    try {
      peer.send(`lock /lockd/${cluster.cluster}/locks/tick 5000`);
      await peer.next('locked', 10_000);
      const replica = cluster.start('solo', tickJob(ledger));
      await replica.waitForLeadership(20_000);
      const config = cluster.file('solo.yaml');
      await pollLockdJson<RunRecord[]>(['history', 'tick', '--json', '-c', config], (records) => records.filter((r) => r.outcome === 'skipped' && r.reason === 'lock_held').length >= 2);
      assert.deepEqual(readLedger(ledger), [], 'lockd ran the job while Curator held its lock');

      peer.send('unlock');
      await peer.next('unlocked', 10_000);
      await waitForLedger(ledger, (e) => e.length >= 1, 10_000);
    } finally {
      await peer.stop();
      await cluster.stop();
    }
  });
});
