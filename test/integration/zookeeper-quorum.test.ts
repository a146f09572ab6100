import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { RunRecord } from '../../src/scheduler/records.js';
import { assertLedgerInvariants, readLedger, waitForLedger, type LedgerEntry } from '../helpers/ledger.js';
import { leadershipTerms, overlappingTerms } from '../helpers/leadership-intervals.js';
import { justBeforeASlot, ledgerHistory, ledgerStarts, startLedgerReplicas } from '../helpers/ledger-replicas.js';
import type { ProcessBackendTarget } from '../helpers/lockd-cluster.js';
import type { LockdProcess } from '../helpers/lockd-process.js';
import { assertSlotsAccounted, firstSlotAfter, slotsIn } from '../helpers/slot-accounting.js';
import { waitFor } from '../helpers/wait-for.js';
import { ensembleLeader, fourLetterWord, memberServing, startZooKeeperEnsemble, type ZkEnsemble, type ZkServer } from '../helpers/zookeeper-server.js';

const TTL_MS = 3000;
const SCHEDULE = '* * * * * *';
/** How long a fault lasts: twice the TTL, so every lockd session would have run out in it. */
const FAULT_MS = 2 * TTL_MS;

/** How a test takes ensemble members away and gives them back. */
interface Outage {
  name: string;
  inflict(server: ZkServer): void;
  heal(servers: ZkServer[]): Promise<void>;
}

const outages: Outage[] = [
  // A restarted server reloads its sessions from disk: the kill itself expires none.
  { name: 'kill -9', inflict: (s) => s.kill9(), heal: (servers) => Promise.all(servers.map((s) => s.restart())).then(() => undefined) },
  // Frozen longer than the session timeout, the members expire sessions once they run again.
  { name: 'SIGSTOP', inflict: (s) => s.freeze(), heal: async (servers) => servers.forEach((s) => s.thaw()) },
];

/**
 * Three `lockd run` replicas on a 3-server ZooKeeper ensemble (DESIGN §10: member loss and quorum
 * loss). lockd's heartbeat is a one-`check` transaction that only the ensemble leader answers, so
 * one follower down changes nothing visible: no leader change, every slot run once. Without a
 * quorum nobody gets an answer and every replica self-fences within the TTL; nothing may start
 * then, and after healing exactly one replica leads, every slot of the outage has a record with a
 * reason, and the job runs again. Which replica leads then depends on whether the old leader's
 * session outlived the outage at the servers; either is accepted.
 */
describe('zookeeper: 3-server ensemble, member loss and quorum loss with real lockd processes', { timeout: 240_000 }, () => {
  let ensemble: ZkEnsemble;
  const target: ProcessBackendTarget = {
    name: 'zookeeper 3 servers',
    setup: async () => undefined,
    teardown: async () => undefined,
    backendYaml: () => `  type: zookeeper\n  connect: ${ensemble.connect}`,
  };
  before(async () => {
    ensemble = await startZooKeeperEnsemble(3);
  });
  // A failed test must not leave a member down or frozen for the next one.
  afterEach(() => healAll(ensemble));
  after(() => ensemble?.stop());

  it('kill -9 of each follower in turn for 2×TTL, then its restart: no lockd leader change, every slot run once', async (t) => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE });
    try {
      const leader = run.cluster.leader();
      assert.ok(leader, 'one replica leads before the faults');
      const fromWall = Date.now();
      for (const follower of await followersServingFirst(ensemble, leader)) {
        const serving = (await memberServing(ensemble, sessionIdOf(leader)).catch(() => undefined)) === follower;
        const mark = leader.logs.length;
        await justBeforeASlot();
        const killedAt = performance.now();
        follower.kill9();
        await waitFor(`${FAULT_MS} ms with ${follower.connect} down`, () => performance.now() - killedAt >= FAULT_MS, FAULT_MS + TTL_MS);
        const restartWall = Date.now();
        await follower.restart();
        await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > restartWall).length >= 2, 4 * TTL_MS);
        t.diagnostic(`kill -9 ${follower.connect} (follower${serving ? ', serving the lockd leader' : ''}): leader ${describeSuspension(leader.logs.slice(mark))}`);
      }
      const entries = readLedger(run.ledger);
      const toWall = Math.max(...entries.map((e) => e.slot));

      const terms = leadershipTerms(run.cluster.replicas);
      assert.deepEqual(
        terms.map((term) => term.node),
        [leader.name],
        `leadership changed: ${JSON.stringify(terms)}; ${lossLines(run.cluster.replicas).join('; ')}`,
      );
      assert.equal(terms[0]!.to, Number.POSITIVE_INFINITY, `leadership lost: ${lossLines(run.cluster.replicas).join('; ')}`);
      assertLedgerInvariants(entries);
      const records = await ledgerHistory(run);
      assertSlotsAccounted({ schedule: SCHEDULE, ledger: entries, records, from: firstSlotAfter(fromWall), to: toWall });
      const absent = slotsIn(firstSlotAfter(fromWall), toWall).filter((slot) => !entries.some((e) => e.slot === slot));
      assert.deepEqual(absent.map(iso), [], 'slots that did not run');
      const delays = ledgerStarts(run.ledger).filter((d) => d.slot >= fromWall);
      t.diagnostic(`${slotsIn(firstSlotAfter(fromWall), toWall).length} slots, each run once; start delay max ${Math.max(...delays.map((d) => d.delayMs))} ms`);
    } finally {
      await run.cluster.stop();
    }
  });

  for (const outage of outages) {
    it(`quorum loss (${outage.name} of the ensemble leader and a follower) for 2×TTL: nothing starts; every slot accounted for; one leader after healing`, async (t) => {
      const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE });
      try {
        const before = run.cluster.leader();
        assert.ok(before, 'one replica leads before the outage');
        const zkLeader = await ensembleLeader(ensemble);
        const down = [zkLeader, ensemble.servers.find((s) => s !== zkLeader)!];
        const marks = run.cluster.replicas.map((r) => r.logs.length);
        await justBeforeASlot();
        const downAt = performance.now();
        const downWall = Date.now();
        for (const server of down) outage.inflict(server);

        const fenced = await before.waitForLog((l) => l.msg.startsWith('leadership lost'), TTL_MS + 2000, marks[run.cluster.replicas.indexOf(before)]);
        const fencedAfterMs = fenced.seenAt - downAt;
        const fencedWall = Date.parse(fenced.time);
        await waitFor(`${FAULT_MS} ms without a quorum`, () => performance.now() - downAt >= FAULT_MS, FAULT_MS + TTL_MS);
        const healWall = Date.now();
        const healAt = performance.now();
        const healMarks = run.cluster.replicas.map((r) => r.logs.length);
        await outage.heal(down);
        await waitFor('every member to serve', async () => (await Promise.all(ensemble.servers.map(serves))).every(Boolean), 20_000, 100);
        const servingAfterMs = performance.now() - healAt;
        // Leadership may come back before every member serves again: look from the marks.
        const next = await Promise.any(
          run.cluster.replicas.map((r, i) => r.waitForLeadership(6 * TTL_MS, healMarks[i]).then((line) => ({ replica: r, at: line.seenAt }))),
        ).catch((err: AggregateError) => {
          throw new Error(`no replica led within ${6 * TTL_MS} ms of healing:\n${err.errors.map(String).join('\n')}`);
        });
        // A first winner may hold a session the resumed servers then expire: leadership settles on
        // the replica that goes on running the job (never two at once, checked below).
        const settledOn = (e: LedgerEntry[]): string | undefined =>
          run.cluster.replicas.map((r) => r.name).find((name) => e.filter((x) => x.slot > healWall && x.node === name).length >= 3);
        const entries = await waitForLedger(run.ledger, (e) => settledOn(e) !== undefined, 5 * TTL_MS);
        const settled = run.cluster.replicas.find((r) => r.name === settledOn(entries))!;
        const toWall = Math.max(...entries.map((e) => e.slot));

        // Nothing starts without a quorum; a run whose record was written just before the outage may.
        const starts = ledgerStarts(run.ledger);
        const startedInOutage = starts.filter((s) => s.startedAt > downWall && s.startedAt < healWall && (s.slot > downWall || s.startedAt > fencedWall));
        assert.deepEqual(startedInOutage.map((s) => `${iso(s.slot)} started ${iso(s.startedAt)}`), [], 'a run started during the quorum loss');
        assert.ok(fencedAfterMs <= TTL_MS, `the leader self-fenced ${fencedAfterMs.toFixed(0)} ms after the quorum was lost`);
        assert.equal(run.cluster.leader(), settled, 'one replica leads after healing: the one running the job');
        assert.deepEqual(overlappingTerms(leadershipTerms(run.cluster.replicas)), [], 'two leaders at once');
        assertLedgerInvariants(entries);
        const records = await ledgerHistory(run);
        assertSlotsAccounted({ schedule: SCHEDULE, ledger: entries, records, from: Math.min(...entries.map((e) => e.slot)), to: toWall });

        const firstAfter = starts.filter((s) => s.startedAt >= healWall).sort((a, b) => a.startedAt - b.startedAt)[0]!;
        const lostSessions = run.cluster.replicas.filter((r, i) => r.logs.slice(marks[i], healMarks[i]).some((l) => l.msg === 'zookeeper session lost'));
        const outageRecords = records.filter((r) => r.slot > downWall && r.slot < healWall);
        t.diagnostic(
          `${outage.name}: ${before.name} self-fenced ${fencedAfterMs.toFixed(0)} ms after the quorum was lost; sessions lost locally on ${lostSessions.map((r) => r.name).join(', ') || 'none'}; ` +
            `members serve ${servingAfterMs.toFixed(0)} ms after healing began; ${next.replica.name} led ${(next.at - healAt).toFixed(0)} ms after it, ${settled.name} in the end (leader before: ${before.name}); ` +
            `first run after healing: slot ${iso(firstAfter.slot)} started ${firstAfter.startedAt - healWall} ms after it; ` +
            `outage slots: ${summarize(outageRecords)}`,
        );
      } finally {
        await run.cluster.stop();
      }
    });
  }
});

/** The ensemble's followers, the one serving `leader`'s session first (when a follower serves it). */
async function followersServingFirst(ensemble: ZkEnsemble, leader: LockdProcess): Promise<ZkServer[]> {
  const zkLeader = await ensembleLeader(ensemble);
  const serving = await memberServing(ensemble, sessionIdOf(leader));
  const followers = ensemble.servers.filter((s) => s !== zkLeader);
  return [...followers.filter((s) => s === serving), ...followers.filter((s) => s !== serving)];
}

/** The ZooKeeper session id (hex) a replica logged last. */
function sessionIdOf(replica: LockdProcess): string {
  return String([...replica.logs].reverse().find((l) => l.msg === 'zookeeper session established')?.sessionId ?? '');
}

/** Whether a member answers `srvr` with a mode (leader or follower): it is in a quorum. */
async function serves(server: ZkServer): Promise<boolean> {
  return /^Mode: (leader|follower)/m.test(await fourLetterWord(Number(server.connect.split(':')[1]), 'srvr'));
}

/** Resumes every member and restarts each one that does not serve; resolves when all serve. */
async function healAll(ensemble: ZkEnsemble): Promise<void> {
  for (const server of ensemble.servers) server.thaw();
  await waitFor('every member to serve', async () => (await Promise.all(ensemble.servers.map(serves))).every(Boolean), 10_000, 100).catch(() =>
    Promise.all(ensemble.servers.map(async (s) => (await serves(s)) || s.restart())),
  );
}

/** How a replica's session fared, from its log lines during a fault. */
function describeSuspension(lines: LockdProcess['logs']): string {
  const suspended = lines.find((l) => l.msg === 'zookeeper session suspended');
  const resumed = lines.find((l) => l.msg === 'zookeeper session resumed');
  if (suspended === undefined) return 'session never suspended';
  if (resumed === undefined) return `session suspended (${String(suspended.reason)}), never resumed`;
  return `session suspended (${String(suspended.reason)}) for ${(resumed.seenAt - suspended.seenAt).toFixed(0)} ms`;
}

/** Every loss of leadership or session, as `replica: message reason`. */
function lossLines(replicas: LockdProcess[]): string[] {
  return replicas.flatMap((r) =>
    r.logs.filter((l) => l.msg.startsWith('leadership lost') || l.msg === 'zookeeper session lost').map((l) => `${r.name}: ${l.msg} ${String(l.reason ?? '')}`),
  );
}

/** Outcome/reason counts of run records, e.g. `missed/no_leader ×5`. */
function summarize(records: RunRecord[]): string {
  const counts = new Map<string, number>();
  for (const r of records) {
    const what = `${r.outcome}/${r.reason ?? ''}`;
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts].map(([what, n]) => `${what} ×${n}`).join(', ') || 'no records';
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
