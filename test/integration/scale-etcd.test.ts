import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { assertLedgerInvariants, type LedgerEntry } from '../helpers/ledger.js';
import { leadershipTerms, overlappingTerms } from '../helpers/leadership-intervals.js';
import { LockdCluster, type ProcessBackendTarget } from '../helpers/lockd-cluster.js';
import type { LockdProcess, LogLine } from '../helpers/lockd-process.js';
import { assertSlotsAccounted } from '../helpers/slot-accounting.js';
import type { RunRecord } from '../../src/scheduler/records.js';

const TTL_MS = 2000;
/** Hourly jobs that are not due while the test runs: start-up work only. */
const IDLE_JOBS = 1500;
/** Jobs whose one slot in the test is the same second: the burst. */
const BURST_JOBS = 500;
const JOBS = IDLE_JOBS + BURST_JOBS;
/**
 * The burst slot is this far after the configs are written: room for three replicas to load
 * 2,000 jobs, one to win and start, its kill, the lease's expiry and the next leader's start
 * (about 10 s on an idle 2-core machine; the test fails with the figures, rather than measuring a
 * catch-up, if that has not happened by 3 s before the slot).
 */
const BURST_LEAD_MS = 30_000;
/** Kill → next 'became leader': the lease's TTL, etcd's expiry tick, the watch, the win. */
const MAX_FAILOVER_MS = TTL_MS + 1500;
/** The issue's bound: a new leader of 2,000 jobs schedules within TTL + 1 s of winning. */
const MAX_START_AFTER_WIN_MS = TTL_MS + 1000;
/**
 * Point 1's target (10,000 jobs within 1 s of winning), here at 2,000 jobs on a fresh cluster,
 * whose first leader also writes every job's baseline state: within 1 s of winning. Writing the
 * 2,000 baselines one guarded put each took 5.7 s (2 shared cores, other suites running); in
 * bulk, 0.35 s.
 */
const MAX_FIRST_START_AFTER_WIN_MS = 1000;
/**
 * Slot → last of the 500 children started. Far above what lockd needs (see the diagnostics); a
 * burst that takes this long is broken, not slow. The bench measures the ratio to bare spawns.
 */
const MAX_BURST_START_MS = 20_000;
/** What a replica logs when a lease (session, leadership or a job lock) is lost, or a start fails. */
const LOSS = (l: LogLine): boolean =>
  l.msg === 'etcd session lost' ||
  l.msg.startsWith('leadership lost') ||
  l.msg === 'ownership lost' ||
  l.msg.startsWith('scheduler failed to start') ||
  l.msg === 'could not take the job lock' ||
  l.msg === 'slot handling failed' ||
  l.msg === 'could not record the run; not starting it';

const burstJob = (i: number): string => `burst-${String(i).padStart(3, '0')}`;
const idleJob = (i: number): string => `idle-${String(i).padStart(4, '0')}`;
const isBurst = (job: unknown): boolean => typeof job === 'string' && job.startsWith('burst-');

/**
 * Issue 10's process test: three real `lockd run` replicas on one etcd, TTL 2 s, 2,000 jobs.
 * The first leader (a fresh cluster: it writes every baseline) must schedule within 1 s of winning;
 * it is killed (SIGKILL) once it schedules; the next one must schedule within TTL + 1 s of
 * winning. Then 500 jobs fall due in the same second: every one runs exactly once, on that
 * leader, and no replica loses its session, its leadership or a job lock meanwhile.
 */
describe('etcd at scale with real lockd processes: 2,000 jobs, TTL 2 s', { timeout: 150_000 }, () => {
  let etcd: EtcdServer;
  const target: ProcessBackendTarget = {
    name: 'etcd',
    setup: async () => undefined,
    teardown: async () => undefined,
    backendYaml: () => `  type: etcd\n  endpoints: [${etcd.endpoint}]`,
  };
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd?.stop());

  it('kill -9 of the leader: the next schedules within TTL + 1 s of winning; 500 jobs due at once all run once, no lease lost', async (t) => {
    const cluster = new LockdCluster(target, { ttl: `${TTL_MS / 1000}s` });
    const ledger = cluster.file('ledger');
    const configuredAt = Date.now();
    const burstSlot = Math.ceil((configuredAt + BURST_LEAD_MS) / 1000) * 1000;
    try {
      const jobs = jobsYaml(ledger, burstSlot, configuredAt);
      for (const node of ['a', 'b', 'c']) cluster.start(node, jobs);

      // The first term: a fresh cluster, so its start also writes 2,000 baselines.
      const first = await cluster.nextLeader(60_000);
      const firstStart = await schedulingStarted(first.replica, first.at, 30_000);
      t.diagnostic(`first leader ${first.replica.name}: scheduling ${String(firstStart.line.jobs)} jobs ${firstStart.afterWinMs} ms after winning (baselines written)`);
      assert.equal(firstStart.line.jobs, JOBS);

      const killedAt = performance.now();
      const killedWall = Date.now();
      const marks = new Map(cluster.replicas.map((r) => [r, r.logs.length]));
      first.replica.signal('SIGKILL');
      const next = await cluster.nextLeader(MAX_FAILOVER_MS + 10_000, first.replica);
      const failoverMs = next.at - killedAt;
      const nextStart = await schedulingStarted(next.replica, next.at, MAX_START_AFTER_WIN_MS + 10_000);
      t.diagnostic(
        `kill -9 of ${first.replica.name}: ${next.replica.name} led ${failoverMs.toFixed(0)} ms after the kill (TTL ${TTL_MS} ms) ` +
          `and scheduled ${String(nextStart.line.jobs)} jobs ${nextStart.afterWinMs} ms after winning`,
      );
      assert.equal(nextStart.line.jobs, JOBS);
      // Asserted after the burst, so that a slow start still reports the burst's figures.
      const checkFailover = (): void => {
        assert.ok(firstStart.afterWinMs <= MAX_FIRST_START_AFTER_WIN_MS, `the first leader started scheduling ${firstStart.afterWinMs} ms after winning (> ${MAX_FIRST_START_AFTER_WIN_MS} ms)`);
        assert.ok(failoverMs <= MAX_FAILOVER_MS, `the next leader won ${failoverMs.toFixed(0)} ms after the kill (> ${MAX_FAILOVER_MS} ms)`);
        assert.ok(nextStart.afterWinMs <= MAX_START_AFTER_WIN_MS, `the next leader started scheduling ${nextStart.afterWinMs} ms after winning (> TTL + 1 s)`);
      };
      const slack = burstSlot - Date.now();
      assert.ok(slack >= 3000, `the burst slot is ${slack} ms away once the next leader schedules: start-up and failover took too long to test a live burst`);

      // The burst: 500 children for one slot, and each one's run finished.
      const finished = await countLogs(next.replica, (l) => l.msg === 'run finished' && isBurst(l.job), BURST_JOBS, slack + MAX_BURST_START_MS + 10_000, marks.get(next.replica)!).catch(
        (err: unknown) => {
          throw new Error(`${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}\nthe leader's messages since the kill:\n${summary(next.replica.logs.slice(marks.get(next.replica)))}`);
        },
      );
      const started = next.replica.logs.filter((l) => l.msg === 'run started' && isBurst(l.job));
      const startDelays = started.map((l) => Date.parse(l.time) - burstSlot).sort((x, y) => x - y);
      const lastFinishedMs = Date.parse(finished.time) - burstSlot;
      const keepAlive = keepAliveFigures(next.replica, burstSlot - 1000, burstSlot + lastFinishedMs + 1000);
      t.diagnostic(
        `burst of ${BURST_JOBS}: children started ${startDelays[0]}–${startDelays.at(-1)} ms after the slot (median ${startDelays[Math.floor(startDelays.length / 2)]} ms), ` +
          `last run finished at ${lastFinishedMs} ms; keep-alives during it: longest gap between acknowledgements ${keepAlive.maxGapMs} ms ` +
          `(the session vouches for ${TTL_MS / 2} ms), max round trip ${keepAlive.maxRttMs} ms, ${keepAlive.failed} failed`,
      );
      assert.equal(started.length, BURST_JOBS, 'one start per burst job');
      assert.ok(startDelays.at(-1)! <= MAX_BURST_START_MS, `the last child of the burst started ${startDelays.at(-1)} ms after the slot`);
      const outcomes = next.replica.logs.filter((l) => l.msg === 'run finished' && isBurst(l.job) && l.outcome !== 'success');
      assert.deepEqual(outcomes.map((l) => `${String(l.job)}: ${String(l.outcome)}`), [], 'burst runs that did not succeed');

      // Exactly once each, on the new leader, for the burst slot; the ledger's promise per job.
      const byJob = readJobLedger(ledger);
      const burstNames = Array.from({ length: BURST_JOBS }, (_, i) => burstJob(i));
      const wrong = burstNames.filter((job) => {
        const entries = byJob.get(job) ?? [];
        return entries.length !== 1 || entries[0]!.slot !== burstSlot || entries[0]!.node !== next.replica.name;
      });
      assert.deepEqual(wrong.map((job) => `${job}: ${JSON.stringify((byJob.get(job) ?? []).map((e) => `${new Date(e.slot).toISOString()} ${e.node}`))}`), [], 'burst jobs that did not run exactly once for the slot on the new leader');
      assert.deepEqual([...byJob.keys()].filter((job) => !isBurst(job)), [], 'idle jobs ran');
      for (const entries of byJob.values()) assertLedgerInvariants(entries);

      // Every slot of every job since the configs were written ran once or has a record with a reason.
      const records = await runRecords(etcd, cluster.cluster);
      const checkedTo = Date.now();
      for (let i = 0; i < JOBS; i++) {
        const job = i < BURST_JOBS ? burstJob(i) : idleJob(i - BURST_JOBS);
        assertSlotsAccounted({ schedule: scheduleOf(i, burstSlot, configuredAt), ledger: byJob.get(job) ?? [], records: records.get(job) ?? [], from: configuredAt, to: checkedTo });
      }

      // No lease lost: after the kill, one term only, and no survivor lost a session or lock.
      const losses = cluster.replicas
        .filter((r) => r !== first.replica)
        .flatMap((r) => r.logs.slice(marks.get(r)).filter(LOSS).map((l) => `${r.name}: ${l.msg} ${String(l.reason ?? l.err ?? '')}`));
      assert.deepEqual(losses, [], 'a lease was lost or a slot failed after the kill');
      const terms = leadershipTerms(cluster.replicas).sort((x, y) => x.from - y.from);
      assert.deepEqual(
        terms.map((term) => `${term.node} ${term.to === Number.POSITIVE_INFINITY ? 'open' : 'ended'}`),
        [`${first.replica.name} open`, `${next.replica.name} open`],
        'exactly two terms: the killed leader (no end logged) and the one still leading',
      );
      assert.deepEqual(overlappingTerms(terms, new Map([[first.replica.name, killedWall]])), []);
      checkFailover();
    } finally {
      await cluster.stop();
    }
  });
});

/**
 * The 2,000 jobs, all appending `$LOCKD_JOB $LOCKD_SCHEDULED_AT $LOCKD_FENCING_TOKEN $LOCKD_NODE`
 * to `ledger`: the first 500 at the one slot `burstSlot` (a yearly cron naming its second), the
 * other 1,500 hourly, spread over seconds and minutes at least 10 minutes from `now`.
 */
function jobsYaml(ledger: string, burstSlot: number, now: number): string {
  const run = JSON.stringify(`echo "$LOCKD_JOB $LOCKD_SCHEDULED_AT $LOCKD_FENCING_TOKEN $LOCKD_NODE" >> '${ledger}'`);
  const lines: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    const name = i < BURST_JOBS ? burstJob(i) : idleJob(i - BURST_JOBS);
    lines.push(`  ${name}:`, `    schedule: "${scheduleOf(i, burstSlot, now)}"`, `    run: ${run}`);
  }
  return lines.join('\n');
}

/** Job `i`'s cron (UTC, with seconds). */
function scheduleOf(i: number, burstSlot: number, now: number): string {
  if (i < BURST_JOBS) {
    const d = new Date(burstSlot);
    return `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} ${d.getUTCDate()} ${d.getUTCMonth() + 1} *`;
  }
  const k = i - BURST_JOBS;
  const minute = (new Date(now).getUTCMinutes() + 10 + (k % 40)) % 60;
  return `${k % 60} ${minute} * * * *`;
}

/** The replica's 'scheduling started' after its win (at `wonAt`), and how long after the win it came (lockd's own clock). */
async function schedulingStarted(replica: LockdProcess, wonAt: number, timeoutMs: number): Promise<{ line: LogLine; afterWinMs: number }> {
  const won = replica.logs.findLast((l) => l.msg === 'became leader' && l.seenAt <= wonAt)!;
  const line = await replica.waitForLog((l) => l.msg === 'scheduling started' && l.seenAt >= won.seenAt, timeoutMs, replica.logs.indexOf(won));
  return { line, afterWinMs: Date.parse(line.time) - Date.parse(won.time) };
}

/** Resolves with the `count`-th log line after index `from` that matches. */
function countLogs(replica: LockdProcess, match: (l: LogLine) => boolean, count: number, timeoutMs: number, from: number): Promise<LogLine> {
  let seen = 0;
  return replica.waitForLog((l) => match(l) && ++seen === count, timeoutMs, from);
}

/**
 * The leader's acknowledged keep-alives logged in `[fromWall, toWall]`: the longest gap between
 * two (its session stops vouching `TTL − margin − loss grace` after the last one's send), their
 * longest round trip, and the failed ones.
 */
function keepAliveFigures(replica: LockdProcess, fromWall: number, toWall: number): { maxGapMs: number; maxRttMs: number; failed: number } {
  const within = replica.logs.filter((l) => Date.parse(l.time) >= fromWall && Date.parse(l.time) <= toWall);
  const acks = within.filter((l) => l.msg === 'keep-alive acknowledged');
  let maxGapMs = 0;
  for (let i = 1; i < acks.length; i++) maxGapMs = Math.max(maxGapMs, Date.parse(acks[i]!.time) - Date.parse(acks[i - 1]!.time));
  const maxRttMs = Math.max(0, ...acks.map((l) => Number(l.rttMs ?? 0)));
  return { maxGapMs, maxRttMs, failed: within.filter((l) => l.msg === 'keep-alive failed').length };
}

/** How many times each message was logged, most frequent first, with the first time and a job's for each. */
function summary(lines: LogLine[]): string {
  const counts = new Map<string, { n: number; first: string; burst: number }>();
  for (const l of lines) {
    const c = counts.get(l.msg) ?? { n: 0, first: l.time, burst: 0 };
    c.n += 1;
    if (isBurst(l.job)) c.burst += 1;
    counts.set(l.msg, c);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1].n - a[1].n)
    .map(([msg, c]) => `${c.n} (${c.burst} of burst jobs) from ${c.first}: ${msg}`)
    .join('\n');
}

/** The shared ledger, by job. */
function readJobLedger(file: string): Map<string, LedgerEntry[]> {
  const byJob = new Map<string, LedgerEntry[]>();
  if (!existsSync(file)) return byJob;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const [job, at, token, node] = line.trim().split(/\s+/);
    const entries = byJob.get(job ?? '') ?? [];
    entries.push({ slot: Date.parse(at ?? ''), token: BigInt(token ?? '-1'), node: node ?? '' });
    byJob.set(job ?? '', entries);
  }
  return byJob;
}

/** Every run record of the cluster, by job, in one prefix read (`lockd history` is one process per job). */
async function runRecords(server: EtcdServer, cluster: string): Promise<Map<string, RunRecord[]>> {
  const out = await etcdctl(server.endpoint, ['get', '--prefix', `lockd/${cluster}/runs/`, '--print-value-only'], 15_000);
  assert.ok(out !== undefined, 'etcdctl could not read the run records');
  const byJob = new Map<string, RunRecord[]>();
  // Values are JSON texts, one per line (JSON escapes newlines in output tails).
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    const record = JSON.parse(line) as RunRecord;
    byJob.set(record.job, [...(byJob.get(record.job) ?? []), record]);
  }
  return byJob;
}
