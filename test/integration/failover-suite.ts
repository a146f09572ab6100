import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { LockdCluster, type ProcessBackendTarget } from '../helpers/lockd-cluster.js';
import { assertLedgerInvariants, ledgerJobCommand, readLedger, waitForLedger, type LedgerEntry } from '../helpers/ledger.js';
import { runLockd } from '../helpers/lockd-process.js';
import { assertSlotsAccounted } from '../helpers/slot-accounting.js';
import type { RunRecord } from '../../src/scheduler/records.js';
import { leadershipTerms, overlappingTerms } from '../helpers/leadership-intervals.js';
import { waitFor } from '../helpers/wait-for.js';
import { freezeOutsideLocks } from '../helpers/freeze.js';

const TTL_S = 3;
const TTL_MS = TTL_S * 1000;
/** The scheduler's log message when a child process starts. */
const RUN_STARTED = 'run started';

/** A job every second that appends `$LOCKD_SCHEDULED_AT $LOCKD_FENCING_TOKEN $LOCKD_NODE` to a ledger. */
function ledgerJob(file: string): string {
  return ['  ledger:', '    schedule: "* * * * * *"', `    run: ${JSON.stringify(ledgerJobCommand(file))}`, '    deadline: 30s'].join('\n');
}

/**
 * The process tests of issues 2–4, written once and run against every backend: three real
 * `lockd run` processes, killed with SIGKILL, SIGTERM and SIGSTOP.
 */
export function failoverSuite(target: ProcessBackendTarget): void {
  describe(`failover with real lockd processes: ${target.name}`, { timeout: 180_000 }, () => {
    before(() => target.setup());
    after(() => target.teardown());

    it('kill -9 of the leader: another replica leads and runs the job within TTL + 1 s; no slot twice, tokens increase', async () => {
      const { cluster, ledger, first } = await threeReplicas(target, (ledger) => ledgerJob(ledger));
      try {

        const killedAt = performance.now();
        const killedWall = Date.now();
        first.replica.signal('SIGKILL');
        const next = await cluster.nextLeader(TTL_MS + 10_000, first.replica);
        const failoverMs = next.at - killedAt;
        const entries = await waitForLedger(ledger, (e) => e.some((x) => x.node === next.replica.name), TTL_MS + 10_000);
        const ranAfterMs = performance.now() - killedAt;
        process.stdout.write(`# ${target.name}: crash failover ${failoverMs.toFixed(0)} ms, first run by new leader ${ranAfterMs.toFixed(0)} ms after kill -9 (TTL ${TTL_MS} ms)\n`);
        assert.ok(failoverMs <= TTL_MS + 1000, `failover took ${failoverMs.toFixed(0)} ms > TTL + 1 s`);
        assert.ok(ranAfterMs <= TTL_MS + 1000, `new leader's first run came ${ranAfterMs.toFixed(0)} ms after the kill`);
        assert.ok(entries.filter((e) => e.node === first.replica.name).every((e) => e.slot <= killedWall));

        await waitForLedger(ledger, (e) => e.filter((x) => x.node === next.replica.name).length >= 3, 10_000);
        const final = readLedger(ledger);
        assertLedgerInvariants(final);
        assert.deepEqual(overlappingTerms(leadershipTerms(cluster.replicas), new Map([[first.replica.name, killedWall]])), []);
        await assertAccounted(cluster, next.replica.name, final);
      } finally {
        await cluster.stop();
      }
    });

    it('SIGTERM of the leader: handoff within 0.5 s and the process exits 0', async () => {
      const { cluster, ledger, first } = await threeReplicas(target, (ledger) => ledgerJob(ledger));
      try {

        const termAt = performance.now();
        first.replica.signal('SIGTERM');
        const next = await cluster.nextLeader(5_000, first.replica);
        const handoffMs = next.at - termAt;
        const exit = await first.replica.exited;
        process.stdout.write(`# ${target.name}: graceful handoff ${handoffMs.toFixed(0)} ms\n`);
        assert.ok(handoffMs <= 500, `handoff took ${handoffMs.toFixed(0)} ms`);
        assert.deepEqual(exit, { code: 0, signal: null });

        await waitForLedger(ledger, (e) => e.filter((x) => x.node === next.replica.name).length >= 2, 10_000);
        const final = readLedger(ledger);
        assertLedgerInvariants(final);
        assert.deepEqual(overlappingTerms(leadershipTerms(cluster.replicas)), []);
        await assertAccounted(cluster, next.replica.name, final);
      } finally {
        await cluster.stop();
      }
    });

    it('SIGSTOP of the leader for 2×TTL, then SIGCONT: the resumed process starts nothing and kills its running job', async () => {
      const slowJob = (slowLog: string): string =>
        [
          '  slow:',
          '    schedule: "* * * * * *"',
          `    run: ${JSON.stringify(`trap 'echo "killed $LOCKD_RUN_ID $LOCKD_NODE" >> ${slowLog}; exit 143' TERM; echo "start $LOCKD_RUN_ID $LOCKD_NODE" >> ${slowLog}; sleep 120 & wait`)}`,
          '    kill_grace: 2s',
        ].join('\n');
      const { cluster, ledger, first } = await threeReplicas(target, (ledger, file) => `${ledgerJob(ledger)}\n${slowJob(file('slow'))}`);
      const slowLog = cluster.file('slow');
      try {
        const oldNode = first.replica.name;
        await waitFor('the slow job to start on the leader', () => slowLines(slowLog).some((l) => l.startsWith('start') && l.endsWith(oldNode)), 10_000);

        const { at: stoppedAt, wall: stoppedWall } = await freezeOutsideLocks(first.replica.child, (pid) => target.blocksOthersWhileFrozen?.(pid, cluster.dir) ?? false);
        const next = await cluster.nextLeader(TTL_MS + 10_000, first.replica);
        assert.ok(next.at - stoppedAt <= TTL_MS + 1000, `takeover during the freeze took ${(next.at - stoppedAt).toFixed(0)} ms`);
        await waitFor('2×TTL of freeze', () => performance.now() - stoppedAt >= 2 * TTL_MS, 3 * TTL_MS);
        const resumeWall = Date.now();
        const mark = first.replica.logs.length;
        first.replica.signal('SIGCONT');

        await first.replica.waitForLog((l) => l.msg.startsWith('leadership lost'), 5_000, mark);
        await waitFor('the resumed leader to kill its job', () => slowLines(slowLog).some((l) => l.startsWith('killed') && l.endsWith(oldNode)), 5_000);
        // Whatever the resumed process does next, it must never start a slot from its stale term.
        await waitForLedger(ledger, (e) => e.filter((x) => x.node === next.replica.name && x.slot > resumeWall).length >= 3, 10_000);
        const stale = readLedger(ledger).filter((e) => e.node === oldNode && e.slot > stoppedWall);
        assert.deepEqual(stale, [], 'the frozen leader started a slot after it was frozen');
        const afterResume = first.replica.logs.slice(mark);
        const regained = afterResume.findIndex((l) => l.msg === 'became leader');
        const staleStarts = afterResume.filter((l, i) => l.msg === RUN_STARTED && (regained === -1 || i < regained));
        assert.deepEqual(staleStarts, [], 'the resumed process started a run before leading again');
        assertLedgerInvariants(readLedger(ledger));
      } finally {
        await cluster.stop();
      }
    });
  });
}

/**
 * Three replicas a, b, c of a new cluster with the jobs `jobsFor(ledger file, file in the cluster
 * dir)`, once one of them leads and the ledger has two lines. Stops the cluster if that fails.
 */
async function threeReplicas(target: ProcessBackendTarget, jobsFor: (ledger: string, file: (name: string) => string) => string) {
  const cluster = new LockdCluster(target, { ttl: `${TTL_S}s` });
  const ledger = cluster.file('ledger');
  try {
    const jobs = jobsFor(ledger, (name) => cluster.file(name));
    ['a', 'b', 'c'].forEach((n) => cluster.start(n, jobs));
    const first = await cluster.nextLeader(20_000);
    await waitForLedger(ledger, (e) => e.length >= 2, 15_000);
    return { cluster, ledger, first };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** Every slot of the ledger job from its first to its last ledger line ran once or has a record with a reason. */
async function assertAccounted(cluster: LockdCluster, reader: string, entries: LedgerEntry[]): Promise<void> {
  const history = await runLockd(['history', 'ledger', '-n', '1000', '--json', '-c', cluster.file(`${reader}.yaml`)]);
  assert.equal(history.code, 0, history.stderr);
  const slots = entries.map((e) => e.slot).sort((a, b) => a - b);
  assertSlotsAccounted({ schedule: '* * * * * *', ledger: entries, records: JSON.parse(history.stdout) as RunRecord[], from: slots[0]!, to: slots.at(-1)! });
}

function slowLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}
