import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it, type TestContext } from 'node:test';
import { startEtcdCluster, type EtcdCluster, type EtcdMember } from '../helpers/etcd-cluster.js';
import { assertLedgerInvariants, readLedger, waitForLedger, type LedgerEntry } from '../helpers/ledger.js';
import { leadershipTerms, overlappingTerms } from '../helpers/leadership-intervals.js';
import { justBeforeASlot, ledgerHistory, ledgerStarts, startLedgerReplicas, type LedgerRun } from '../helpers/ledger-replicas.js';
import type { LockdCluster, ProcessBackendTarget } from '../helpers/lockd-cluster.js';
import type { LockdProcess } from '../helpers/lockd-process.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * The test etcd elects a new raft leader 0.5–1 s after losing one (election timeout 500 ms,
 * randomised up to twice that), and a split vote costs one more round: up to about 2 s. A session
 * survives an election that ends within vouchedMs − one renewal interval − one hedge of its last
 * acknowledgement: 1.35 s at TTL 3 s (a split vote under load lost the session in CI), 2.7 s at 6 s.
 */
const TTL_MS = 6000;
/** The ledger job runs every second. */
const SCHEDULE = '* * * * * *';
/** A raft leader paused for longer than the lease TTL revokes the leases on SIGCONT (etcd 3.4.23). */
const RAFT_LEADER_PAUSE_MS = 1500;
/**
 * While a raft leader is lost, no write commits until the others elect a new one (0.5–1 s with
 * the test cluster's election timeout, up to about 2 s after a split vote), and then one attempt
 * may still be waiting out its deadline: a slot can start up to about 2.4 s late. `queue` lets the next slot wait for it
 * rather than be skipped; the delay itself is bounded by `MAX_START_DELAY_MS`.
 */
const JOB_OVERLAP = 'overlap: queue';
const MAX_START_DELAY_MS = 2500;

/**
 * Three `lockd run` replicas on a 3-member etcd, every replica configured with all three
 * endpoints (DESIGN §10: member loss and quorum loss). One member dead (kill -9) or frozen
 * (SIGSTOP, the raft leader included) must change nothing visible: no leader change, every slot
 * run exactly once, no `missed` or `skipped` record. A raft leader frozen for longer than the
 * TTL is held to that until SIGCONT; after it, etcd 3.4.23 itself may revoke the leases (see the
 * design notes). Losing the quorum must stop everything (self-fencing) and heal into one leader
 * that runs the job again.
 */
describe('etcd: 3-member cluster, member loss and quorum loss with real lockd processes', { timeout: 240_000 }, () => {
  let etcd: EtcdCluster;
  const target: ProcessBackendTarget = {
    name: 'etcd 3 members',
    setup: async () => undefined,
    teardown: async () => undefined,
    backendYaml: () => `  type: etcd\n  endpoints: [${etcd.endpoints.join(', ')}]`,
  };
  before(async () => {
    etcd = await startEtcdCluster(3);
  });
  // A failed test must not leave a member down or frozen for the next one.
  afterEach(() => healAll(etcd));
  after(() => etcd?.stop());

  it('kill -9 of each member in turn, then its restart: no leader change, no missed slot', async (t) => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE, jobExtra: JOB_OVERLAP });
    try {
      const startWall = Date.now();
      for (const member of etcd.members) {
        const raftLeader = (await etcd.leader()) === member;
        await fault(run, `kill -9 ${member.name}${raftLeader ? ' (raft leader)' : ''}`, t, () => member.kill9(), () => member.restart());
      }
      await assertNothingVisible(run, startWall, Date.now(), t);
    } finally {
      await run.cluster.stop();
    }
  });

  it('SIGSTOP of a follower for 2×TTL, then of the raft leader for less than the TTL: no leader change, no missed slot', async (t) => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE, jobExtra: JOB_OVERLAP });
    try {
      const startWall = Date.now();
      const follower = await aFollower(etcd);
      await fault(run, `SIGSTOP ${follower.name} (follower)`, t, () => follower.freeze(), async () => follower.thaw());
      await waitForHealthy(etcd.members);
      // Shorter than TTL minus the keep-alive interval: see the next test for longer pauses.
      const raftLeader = await etcd.leader();
      await fault(run, `SIGSTOP ${raftLeader.name} (raft leader)`, t, () => raftLeader.freeze(), async () => raftLeader.thaw(), RAFT_LEADER_PAUSE_MS);
      await assertNothingVisible(run, startWall, Date.now(), t);
    } finally {
      await run.cluster.stop();
    }
  });

  it('SIGSTOP of the raft leader for 2×TTL: nothing visible while it is frozen; after SIGCONT one leader, no slot twice', async (t) => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE, jobExtra: JOB_OVERLAP });
    try {
      const startWall = Date.now();
      const raftLeader = await etcd.leader();
      const marks = run.cluster.replicas.map((r) => r.logs.length);
      const { healWall } = await fault(run, `SIGSTOP ${raftLeader.name} (raft leader)`, t, () => raftLeader.freeze(), async () => raftLeader.thaw());
      // Until SIGCONT the frozen member is lockd's business, and nothing may show.
      await assertNothingVisible(run, startWall, healWall, t);
      // On SIGCONT, etcd 3.4.23's stale leader revokes every lease whose TTL ran out in its own
      // frozen view, although the new leader kept them alive (an etcd bug, see the design notes):
      // every session is lost and leadership moves. What lockd still promises then: one leader
      // again soon, no slot twice, tokens increasing.
      const settled = performance.now() + 2 * TTL_MS;
      await waitFor('2×TTL after SIGCONT', () => performance.now() >= settled, 3 * TTL_MS);
      const leaderAfter = await waitForOneLeader(run.cluster, 2 * TTL_MS);
      const settledWall = Date.now();
      await waitForLedger(run.ledger, (e) => e.filter((x) => x.node === leaderAfter.name && x.slot > settledWall).length >= 2, 4 * TTL_MS);
      assertLedgerInvariants(readLedger(run.ledger));
      const revoked = run.cluster.replicas.filter((r, i) => r.logs.slice(marks[i]).some((l) => l.msg === 'etcd session lost'));
      t.diagnostic(`after SIGCONT: sessions lost on ${revoked.map((r) => r.name).join(', ') || 'none'}; ${leaderAfter.name} leads`);
    } finally {
      await run.cluster.stop();
    }
  });

  it('quorum loss for 2×TTL: nothing starts during the outage; after healing one leader runs the job again', async (t) => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE, jobExtra: 'misfire: skip' });
    try {
      const before = run.cluster.leader();
      assert.ok(before, 'one replica leads before the outage');
      const raftLeader = await etcd.leader();
      const down = [raftLeader, etcd.members.find((m) => m !== raftLeader)!];
      const mark = before.logs.length;
      await justBeforeASlot();
      const killedAt = performance.now();
      const killedWall = Date.now();
      for (const m of down) m.kill9();
      const fenced = await before.waitForLog((l) => l.msg.startsWith('leadership lost'), TTL_MS + 2000, mark);
      const fencedAfterMs = fenced.seenAt - killedAt;
      await waitFor('2×TTL of outage', () => performance.now() - killedAt >= 2 * TTL_MS, 3 * TTL_MS);
      const healWall = Date.now();
      const marks = run.cluster.replicas.map((r) => r.logs.length);
      const restartAt = performance.now();
      await Promise.all(down.map((m) => m.restart()));
      // Leadership may come back before both restarts report ready: look from the marks.
      const next = await Promise.any(
        run.cluster.replicas.map((r, i) => r.waitForLeadership(4 * TTL_MS, marks[i]).then((line) => ({ replica: r, at: line.seenAt }))),
      );
      const healedAfterMs = next.at - restartAt;
      const after = await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > healWall).length >= 3, 5 * TTL_MS);

      const inOutage = after.filter((e) => e.slot > killedWall && e.slot < healWall);
      assert.deepEqual(inOutage.map(format), [], 'a slot inside the outage ran');
      assert.ok(fencedAfterMs <= TTL_MS, `the leader self-fenced ${fencedAfterMs.toFixed(0)} ms after the quorum was lost`);
      const leadersAfter = run.cluster.replicas.filter((r, i) => r.logs.slice(marks[i]).some((l) => l.msg === 'became leader'));
      assert.deepEqual(leadersAfter.map((r) => r.name), [next.replica.name], 'exactly one replica leads after healing');
      assert.deepEqual(overlappingTerms(leadershipTerms(run.cluster.replicas)), []);
      assertLedgerInvariants(after);
      const records = await ledgerHistory(run);
      const unaccounted = slotsBetween(killedWall, Math.max(...after.map((e) => e.slot))).filter(
        (slot) => !after.some((e) => e.slot === slot) && !records.some((r) => r.slot === slot && (r.outcome === 'missed' || r.outcome === 'skipped')),
      );
      assert.deepEqual(unaccounted.map((s) => new Date(s).toISOString()), [], 'slots neither run nor recorded');
      t.diagnostic(
        `quorum loss: leader self-fenced ${fencedAfterMs.toFixed(0)} ms after the kill; ${next.replica.name} led ${healedAfterMs.toFixed(0)} ms after the restart began; ` +
          `${records.filter((r) => r.outcome === 'missed').length} slots recorded missed`,
      );
    } finally {
      await run.cluster.stop();
    }
  });
});

/**
 * Applies `inflict` for `durationMs` (default 2×TTL), `heal`s, waits for two slots to run after
 * healing, and reports how many slots ran during the fault and their start delays.
 */
async function fault(run: LedgerRun, what: string, t: TestContext, inflict: () => void, heal: () => Promise<void>, durationMs = 2 * TTL_MS): Promise<{ healWall: number }> {
  await justBeforeASlot();
  const from = performance.now();
  const fromWall = Date.now();
  inflict();
  await waitFor(`${durationMs} ms of ${what}`, () => performance.now() - from >= durationMs, durationMs + TTL_MS);
  const healWall = Date.now();
  await heal();
  await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > healWall).length >= 2, 4 * TTL_MS);
  const delays = ledgerStarts(run.ledger).filter((d) => d.slot > fromWall && d.slot <= healWall).map((d) => d.delayMs);
  const maxDelay = Math.max(...delays);
  t.diagnostic(`${what}: ${delays.length} of ${slotsBetween(fromWall, healWall).length} slots ran during the fault; start delay max ${maxDelay} ms, median ${median(delays)} ms`);
  assert.ok(maxDelay < MAX_START_DELAY_MS, `${what}: a slot started ${maxDelay} ms late`);
  return { healWall };
}

/** Up to `toWall`: no leader change, and every slot since `fromWall` run once, none missed or skipped. */
async function assertNothingVisible(run: LedgerRun, fromWall: number, toWall: number, t: TestContext): Promise<void> {
  const terms = leadershipTerms(run.cluster.replicas).filter((term) => term.from < toWall);
  const lost = run.cluster.replicas.flatMap((r) =>
    r.logs.filter((l) => Date.parse(l.time) < toWall && (l.msg.startsWith('leadership lost') || l.msg === 'etcd session lost')).map((l) => `${r.name}: ${l.msg} ${String(l.reason ?? '')}`),
  );
  assert.equal(terms.length, 1, `leadership changed: ${JSON.stringify(terms)}; ${lost.join('; ')}`);
  assert.ok(terms[0]!.to >= toWall, `leadership lost: ${lost.join('; ')}`);
  const entries = readLedger(run.ledger);
  assertLedgerInvariants(entries);
  const window = slotsBetween(fromWall, Math.min(toWall, Math.max(...entries.map((e) => e.slot))));
  const absent = window.filter((slot) => !entries.some((e) => e.slot === slot));
  const records = await ledgerHistory(run);
  const notRun = records.filter((r) => r.slot > fromWall && r.slot <= toWall && (r.outcome === 'missed' || r.outcome === 'skipped'));
  assert.deepEqual(notRun.map((r) => `${r.scheduledAt} ${r.outcome} ${r.reason ?? ''}`), [], 'slots recorded as not run');
  assert.deepEqual(absent.map((s) => new Date(s).toISOString()), [], 'slots missing from the ledger');
  const failedKeepAlives = run.cluster.replicas.flatMap((r) => r.logs.filter((l) => l.msg === 'keep-alive failed' && Date.parse(l.time) < toWall)).length;
  t.diagnostic(`${window.length} slots, each run once; ${failedKeepAlives} failed keep-alives logged; sessions lost: ${lost.length === 0 ? 'none' : lost.join('; ')}`);
}

/** Per-second slots strictly after `fromWall` up to and including `lastSlot`. */
function slotsBetween(fromWall: number, lastSlot: number): number[] {
  const slots: number[] = [];
  for (let s = Math.floor(fromWall / 1000) * 1000 + 1000; s <= lastSlot; s += 1000) slots.push(s);
  return slots;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function format(e: LedgerEntry): string {
  return `${new Date(e.slot).toISOString()} ${e.token} ${e.node}`;
}

/** Waits until every member answers `etcdctl endpoint health` (a thawed member catches up). */
async function waitForHealthy(members: EtcdMember[]): Promise<void> {
  await waitFor('every etcd member to be healthy', async () => (await Promise.all(members.map((m) => m.healthy()))).every(Boolean), 10_000, 100);
}

/** Waits until exactly one live replica says it leads; returns it. */
async function waitForOneLeader(cluster: LockdCluster, timeoutMs: number): Promise<LockdProcess> {
  await waitFor('one lockd leader', () => cluster.leader() !== undefined, timeoutMs, 50);
  return cluster.leader()!;
}

/** Resumes every member and restarts each one that is not healthy. */
async function healAll(cluster: EtcdCluster): Promise<void> {
  for (const m of cluster.members) m.thaw();
  await Promise.all(cluster.members.map(async (m) => (await m.healthy()) || m.restart()));
  await waitForHealthy(cluster.members);
}

/** A member that is not the raft leader. */
async function aFollower(cluster: EtcdCluster): Promise<EtcdMember> {
  const leader = await cluster.leader();
  return cluster.members.find((m) => m !== leader)!;
}
