import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createBackend } from '../../src/election/create-backend.js';
import { HolderClient } from '../conformance/holder-client.js';
import { assertLedgerInvariants, readLedger, waitForLedger } from '../helpers/ledger.js';
import { leadershipTerms, overlappingTerms } from '../helpers/leadership-intervals.js';
import { justBeforeASlot, ledgerHistory, ledgerStarts, startLedgerReplicas } from '../helpers/ledger-replicas.js';
import type { ProcessBackendTarget } from '../helpers/lockd-cluster.js';
import type { LockdProcess } from '../helpers/lockd-process.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { assertSlotsAccounted, firstSlotAfter, slotsIn } from '../helpers/slot-accounting.js';
import { waitFor } from '../helpers/wait-for.js';

const TTL_MS = 3000;
const SCHEDULE = '* * * * * *';
/** A dead holder's session goes once a reaper saw it silent for the TTL, plus its poll and a queue look. */
const TAKEOVER_BOUND_MS = TTL_MS + 1500;

/**
 * Redis itself failing under three `lockd run` replicas of the ledger job, with the harness's
 * `appendonly yes` + `appendfsync always` (every acknowledged write survives a SIGKILL):
 * - SIGKILL and an immediate restart: the sessions, queues and run records are all in the AOF,
 *   and the outage is shorter than the vouched time, so nothing is visible: one leader
 *   throughout, every slot run once;
 * - SIGKILL, 2×TTL down, restart: the leader self-fences within the TTL, nothing starts while
 *   Redis is down, one replica leads after it is back, every slot is run once or recorded as not
 *   run, tokens keep increasing.
 *
 * - every session's expiry rewritten into the past, again and again, for 3×TTL: what a big forward
 *   step of the server's clock does to them; the reapers must still leave live sessions alone
 *   (observed silence), so nothing is visible.
 * - a frozen, then killed, holder whose session's last renewal time and expiry are rewritten 1 h
 *   into the server's future: what a −1 h step of the server's clock does to them; another
 *   backend must still take its lock within TTL + 1.5 s (the reap's clock-went-back rule).
 *
 * A real step of the server's clock is not tested: redis-server 7.0 does not start under
 * libfaketime (its jemalloc reads the clock while libfaketime initializes: "recursive calls to
 * clock_gettime()").
 */
describe('redis: the server crashes under real lockd processes', { timeout: 240_000 }, () => {
  let redis: RedisServer;
  const target: ProcessBackendTarget = {
    name: 'redis',
    setup: async () => undefined,
    teardown: async () => undefined,
    backendYaml: () => `  type: redis\n  url: ${redis.url}`,
  };
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  it('kill -9 of Redis and an immediate restart (AOF always): no leader change, every slot run once', async (t) => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE });
    try {
      const leader = run.cluster.leader();
      assert.ok(leader, 'one replica leads before the crash');
      const fromWall = Date.now();
      const marks = run.cluster.replicas.map((r) => r.logs.length);
      await justBeforeASlot();
      const killedAt = performance.now();
      redis.kill9();
      await redis.restart();
      const downMs = performance.now() - killedAt;
      const restartWall = Date.now();
      const entries = await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > restartWall).length >= 3, 5 * TTL_MS);
      const toWall = Math.max(...entries.map((e) => e.slot));

      const terms = leadershipTerms(run.cluster.replicas);
      assert.equal(terms.length, 1, `leadership changed: ${JSON.stringify(terms)}; ${lossLines(run.cluster.replicas, marks).join('; ')}`);
      assert.equal(run.cluster.leader(), leader, 'the same replica leads after the restart');
      assertLedgerInvariants(entries);
      const records = await ledgerHistory(run);
      assertSlotsAccounted({ schedule: SCHEDULE, ledger: entries, records, from: Math.min(...entries.map((e) => e.slot)), to: toWall });
      const absent = slotsIn(firstSlotAfter(fromWall), toWall).filter((slot) => !entries.some((e) => e.slot === slot));
      assert.deepEqual(absent.map(iso), [], 'slots that did not run');
      const delays = ledgerStarts(run.ledger).filter((d) => d.slot > fromWall).map((d) => d.delayMs);
      t.diagnostic(`redis down ${downMs.toFixed(0)} ms (kill -9 to PING); ${slotsIn(firstSlotAfter(fromWall), toWall).length} slots, each run once; start delay max ${Math.max(...delays)} ms`);
    } finally {
      await run.cluster.stop();
    }
  });

  it('kill -9 of Redis for 2×TTL, then restart: the leader self-fences, nothing starts meanwhile, one leader after, every slot accounted for', async (t) => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE });
    try {
      const before = run.cluster.leader();
      assert.ok(before, 'one replica leads before the crash');
      const marks = run.cluster.replicas.map((r) => r.logs.length);
      await justBeforeASlot();
      const killedAt = performance.now();
      const killedWall = Date.now();
      redis.kill9();
      const fenced = await before.waitForLog((l) => l.msg.startsWith('leadership lost'), TTL_MS + 2000, marks[run.cluster.replicas.indexOf(before)]);
      const fencedAfterMs = fenced.seenAt - killedAt;
      const fencedWall = Date.parse(fenced.time);
      await waitFor('2×TTL with Redis down', () => performance.now() - killedAt >= 2 * TTL_MS, 3 * TTL_MS);
      const healMarks = run.cluster.replicas.map((r) => r.logs.length);
      const restartAt = performance.now();
      const restartWall = Date.now();
      await redis.restart();
      const next = await Promise.any(
        run.cluster.replicas.map((r, i) => r.waitForLeadership(6 * TTL_MS, healMarks[i]).then((line) => ({ replica: r, at: line.seenAt }))),
      );
      const ledAfterMs = next.at - restartAt;
      const entries = await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > restartWall && x.node === next.replica.name).length >= 3, 5 * TTL_MS);
      const toWall = Math.max(...entries.map((e) => e.slot));

      const starts = ledgerStarts(run.ledger);
      // A run whose record was written just before the crash may start before the leader fences.
      const startedInOutage = starts.filter((s) => s.startedAt > killedWall && s.startedAt < restartWall && (s.slot > killedWall || s.startedAt > fencedWall));
      assert.deepEqual(startedInOutage.map((s) => `${iso(s.slot)} started ${iso(s.startedAt)}`), [], 'a run started while Redis was down');
      assert.ok(fencedAfterMs <= TTL_MS, `the leader self-fenced ${fencedAfterMs.toFixed(0)} ms after the crash`);
      const leadersAfter = run.cluster.replicas.filter((r, i) => r.logs.slice(healMarks[i]).some((l) => l.msg === 'became leader'));
      assert.deepEqual(leadersAfter.map((r) => r.name), [next.replica.name], 'exactly one replica leads after the restart');
      assert.equal(run.cluster.leader(), next.replica, 'it still leads');
      assert.deepEqual(overlappingTerms(leadershipTerms(run.cluster.replicas)), [], 'two leaders at once');
      assertLedgerInvariants(readLedger(run.ledger));
      const records = await ledgerHistory(run);
      assertSlotsAccounted({ schedule: SCHEDULE, ledger: entries, records, from: Math.min(...entries.map((e) => e.slot)), to: toWall });
      const outage = records.filter((r) => r.slot > killedWall && r.slot < restartWall);
      const counts = new Map<string, number>();
      for (const r of outage) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
      t.diagnostic(
        `leader ${before.name} self-fenced ${fencedAfterMs.toFixed(0)} ms after the kill; ${next.replica.name} led ${ledAfterMs.toFixed(0)} ms after the restart began; ` +
          `outage slots: ${[...counts].map(([o, n]) => `${n} ${o}`).join(', ') || 'none recorded'}`,
      );
    } finally {
      await run.cluster.stop();
    }
  });

  it('every session expired by the server clock for 3×TTL (what a forward step of it does): no takeover, every slot run once', async (t) => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE });
    try {
      const leader = run.cluster.leader();
      assert.ok(leader, 'one replica leads');
      const fromWall = Date.now();
      const marks = run.cluster.replicas.map((r) => r.logs.length);
      // Every 50 ms, every session's expiry (ms by the server's TIME) is set to 1970: as if the
      // server's clock were far ahead. Only the observed-silence rule keeps the sessions alive.
      const stop = performance.now() + 3 * TTL_MS;
      let rounds = 0;
      while (performance.now() < stop) {
        for (const key of (await redis.send(['KEYS', 'lockd:*:exp'])) as string[]) {
          const members = (await redis.send(['ZRANGE', key, '0', '-1'])) as string[];
          for (const sid of members) await redis.send(['ZADD', key, 'XX', '0', sid]);
        }
        rounds++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const endWall = Date.now();
      const entries = await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > endWall).length >= 2, 4 * TTL_MS);
      const toWall = Math.max(...entries.map((e) => e.slot));
      const terms = leadershipTerms(run.cluster.replicas);
      assert.equal(terms.length, 1, `leadership changed: ${JSON.stringify(terms)}; ${lossLines(run.cluster.replicas, marks).join('; ')}`);
      assert.equal(run.cluster.leader(), leader, 'the same replica leads');
      const reaped = run.cluster.replicas.flatMap((r, i) => r.logs.slice(marks[i]).filter((l) => l.msg.startsWith('reaped a session')));
      assert.deepEqual(reaped, [], 'a live session was reaped');
      assertLedgerInvariants(entries);
      const records = await ledgerHistory(run);
      assertSlotsAccounted({ schedule: SCHEDULE, ledger: entries, records, from: Math.min(...entries.map((e) => e.slot)), to: toWall });
      const absent = slotsIn(firstSlotAfter(fromWall), toWall).filter((slot) => !entries.some((e) => e.slot === slot));
      assert.deepEqual(absent.map(iso), [], 'slots that did not run');
      t.diagnostic(`${rounds} rounds of expiring every session; ${slotsIn(firstSlotAfter(fromWall), toWall).length} slots, each run once`);
    } finally {
      await run.cluster.stop();
    }
  });
});

describe('redis: a backward step of the server clock', { timeout: 60_000 }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.stop());

  it('a holder frozen across a −1 h server clock step (its renewal time and expiry 1 h in the server\'s future), then killed: another backend takes its lock within TTL + 1.5 s', async (t) => {
    const cluster = `back${Date.now().toString(36)}`;
    const config = { type: 'redis' as const, url: redis.url };
    const holder = await HolderClient.start({ config, cluster, ttlMs: TTL_MS });
    let taker: Awaited<ReturnType<typeof createBackend>> | undefined;
    try {
      holder.send({ cmd: 'acquire', name: 'job' });
      await holder.next('acquired', 10_000);
      holder.freeze();
      // Let a renewal already on the wire land before the rewrite.
      await new Promise((resolve) => setTimeout(resolve, 200));
      // What a −1 h step does to the frozen holder's session: its last renewal (server ms) lies
      // 1 h ahead of the server's clock, and its expiry 1 h + TTL ahead.
      const prefix = `lockd:{${cluster}}:`;
      const [sec, usec] = (await redis.send(['TIME'])) as [string, string];
      const nowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
      const sids = (await redis.send(['HKEYS', `${prefix}sess`])) as string[];
      assert.equal(sids.length, 1, 'the holder\'s session alone');
      const sid = sids[0] as string;
      await redis.send(['HSET', `${prefix}rtime`, sid, String(nowMs + 3_600_000)]);
      await redis.send(['ZADD', `${prefix}exp`, 'XX', String(nowMs + 3_600_000 + TTL_MS), sid]);
      taker = await createBackend(config, { cluster, node: 'taker', ttlMs: TTL_MS, logger: pino({ level: 'silent' }) });
      const killedAt = performance.now();
      await holder.kill();
      let acquired: { ms: number } | undefined;
      // Closing the taker ends a wait that never succeeds.
      void taker.acquire('job').then(
        () => (acquired = { ms: performance.now() - killedAt }),
        () => undefined,
      );
      await waitFor('the taker to acquire', () => acquired !== undefined || performance.now() - killedAt > TAKEOVER_BOUND_MS + 1000, TAKEOVER_BOUND_MS + 2000);
      const left = await redis.send(['ZSCORE', `${prefix}exp`, sid]);
      t.diagnostic(
        `taker ${acquired ? `acquired after ${acquired.ms.toFixed(0)} ms` : `had not acquired ${TAKEOVER_BOUND_MS + 1000} ms after the kill`}; ` +
          `the dead holder's session ${left === null ? 'is gone' : `expires in ${((Number(left) - nowMs) / 1000).toFixed(0)} s by the server's clock`}`,
      );
      assert.ok(acquired && acquired.ms <= TAKEOVER_BOUND_MS, 'the lock of a dead holder was not taken over within TTL + 1.5 s');
    } finally {
      await holder.kill();
      await taker?.close();
    }
  });
});

function lossLines(replicas: LockdProcess[], marks: number[]): string[] {
  return replicas.flatMap((r, i) => r.logs.slice(marks[i]).filter((l) => l.msg.startsWith('leadership lost') || l.msg === 'session lost').map((l) => `${r.name}: ${l.msg} ${String(l.reason ?? '')}`));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
