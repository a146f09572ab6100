import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LockdCluster } from '../helpers/lockd-cluster.js';
import { assertLedgerInvariants, ledgerJobCommand, readLedger, waitForLedger } from '../helpers/ledger.js';
import { leadershipTerms, overlappingTerms } from '../helpers/leadership-intervals.js';
import { memberServing, startZooKeeper, startZooKeeperEnsemble, type ZkEnsemble, type ZkServer } from '../helpers/zookeeper-server.js';

const TTL_S = 3;
const TTL_MS = TTL_S * 1000;
const ledgerJob = (file: string): string =>
  ['  ledger:', '    schedule: "* * * * * *"', `    run: ${JSON.stringify(ledgerJobCommand(file))}`, '    deadline: 30s'].join('\n');

/** Three real `lockd run` replicas while the ZooKeeper servers under them are killed and frozen. */
describe('lockd processes on ZooKeeper when a server fails', { timeout: 180_000 }, () => {
  describe('3-server ensemble', () => {
    let ensemble: ZkEnsemble;
    before(async () => {
      ensemble = await startZooKeeperEnsemble(3);
    });
    after(() => ensemble.stop());

    it('kill -9 of the member the leader is connected to: never two leaders, at most one change', async () => {
      const cluster = new LockdCluster({ name: 'zk', setup: async () => undefined, teardown: async () => undefined, backendYaml: () => `  type: zookeeper\n  connect: ${ensemble.connect}` }, { ttl: `${TTL_S}s` });
      const ledger = cluster.file('ledger');
      let victim: ZkServer | undefined;
      try {
        ['a', 'b', 'c'].forEach((n) => cluster.start(n, ledgerJob(ledger)));
        const { replica: leader } = await cluster.nextLeader(20_000);
        await waitForLedger(ledger, (e) => e.length >= 2, 15_000);
        const session = [...leader.logs].reverse().find((l) => l.msg === 'zookeeper session established');
        victim = await memberServing(ensemble, String(session?.sessionId ?? ''));
        const becameBefore = cluster.replicas.map((r) => r.logs.filter((l) => l.msg === 'became leader').length);

        const killedWall = Date.now();
        victim.kill9();
        // The job goes on running, whoever leads, within the session timeout + 1 s.
        await waitForLedger(ledger, (e) => e.filter((x) => x.slot > killedWall + TTL_MS + 1000).length >= 2, 20_000);
        const changes = cluster.replicas.reduce((n, r, i) => n + r.logs.filter((l) => l.msg === 'became leader').length - becameBefore[i]!, 0);
        assert.ok(changes <= 1, `${changes} leadership changes after one server died`);
        assert.deepEqual(overlappingTerms(leadershipTerms(cluster.replicas)), []);
        const entries = readLedger(ledger);
        const gap = largestGap(entries.map((e) => e.slot).filter((s) => s >= killedWall - 1000));
        assert.ok(gap <= TTL_MS + 1000, `no run for ${gap} ms`);
        assertLedgerInvariants(entries);
      } finally {
        await victim?.restart();
        await cluster.stop();
      }
    });
  });

  describe('standalone server', () => {
    let zk: ZkServer;
    before(async () => {
      zk = await startZooKeeper();
    });
    after(() => zk.stop());

    it('server frozen past the session timeout: the leader stops starting jobs within the TTL; after SIGCONT exactly one leader', async () => {
      const cluster = new LockdCluster({ name: 'zk', setup: async () => undefined, teardown: async () => undefined, backendYaml: () => `  type: zookeeper\n  connect: ${zk.connect}` }, { ttl: `${TTL_S}s` });
      const ledger = cluster.file('ledger');
      try {
        ['a', 'b', 'c'].forEach((n) => cluster.start(n, ledgerJob(ledger)));
        const { replica: leader } = await cluster.nextLeader(20_000);
        await waitForLedger(ledger, (e) => e.length >= 2, 15_000);

        const frozenWall = Date.now();
        const mark = leader.logs.length;
        zk.freeze();
        const lost = await leader.waitForLog((l) => l.msg.startsWith('leadership lost'), TTL_MS + 2000, mark);
        assert.ok(Date.parse(lost.time) - frozenWall <= TTL_MS, `stopped leading ${Date.parse(lost.time) - frozenWall} ms after the freeze`);
        await waitForTime(frozenWall + TTL_MS + 2000);
        const thawWall = Date.now();
        zk.thaw();

        const started = readLedger(ledger).filter((e) => e.slot > frozenWall + TTL_MS && e.slot < thawWall);
        assert.deepEqual(started, [], 'a job started while nobody could prove leadership');
        await waitForLedger(ledger, (e) => e.filter((x) => x.slot > thawWall).length >= 3, 20_000);
        const leaders = cluster.replicas.filter((r) => r.isLeaderNow());
        assert.equal(leaders.length, 1, `leaders now: ${leaders.map((r) => r.name).join(', ')}`);
        assert.deepEqual(overlappingTerms(leadershipTerms(cluster.replicas)), []);
        assertLedgerInvariants(readLedger(ledger));
      } finally {
        zk.thaw();
        await cluster.stop();
      }
    });
  });
});

function largestGap(slots: number[]): number {
  const sorted = [...slots].sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < sorted.length; i++) gap = Math.max(gap, sorted[i]! - sorted[i - 1]!);
  return gap;
}

/** Resolves once the wall clock passes `epochMs` (the freeze must outlast the session timeout). */
function waitForTime(epochMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, epochMs - Date.now())));
}
