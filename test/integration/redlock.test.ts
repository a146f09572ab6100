import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunRecord } from '../../src/scheduler/records.js';
import { assertLedgerInvariants, readLedger, waitForLedger } from '../helpers/ledger.js';
import { ledgerHistory, startLedgerReplicas, type LedgerRun } from '../helpers/ledger-replicas.js';
import type { ProcessBackendTarget } from '../helpers/lockd-cluster.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { redlockYaml } from '../helpers/redis-modes-yaml.js';
import { startRedlockPrimaries } from '../helpers/redlock-primaries.js';
import { assertSlotsAccounted } from '../helpers/slot-accounting.js';
import { waitFor } from '../helpers/wait-for.js';

const TTL_MS = 3000;
const SCHEDULE = '* * * * * *';
/** Log messages that mark a change of leadership. */
const LEADERSHIP = /^(became leader|resigned leadership|leadership lost)/;

let servers: RedisServer[] = [];
const target: ProcessBackendTarget = {
  name: 'redis-redlock',
  setup: async () => undefined,
  teardown: async () => undefined,
  backendYaml: () => redlockYaml(servers.map((s) => s.url)),
};

/** Every slot from the ledger's first to `to` ran once or has a record saying why not; no slot twice; tokens increase. */
async function assertAccounted(run: LedgerRun, to: number): Promise<RunRecord[]> {
  const entries = readLedger(run.ledger);
  assertLedgerInvariants(entries);
  const records = await ledgerHistory(run);
  const from = Math.min(...entries.map((e) => e.slot));
  assertSlotsAccounted({ schedule: SCHEDULE, ledger: entries, records, from, to });
  return records;
}

/** Leadership changes logged by any replica after the log positions `marks`. */
function leadershipChanges(run: LedgerRun, marks: number[]): string[] {
  return run.cluster.replicas.flatMap((r, i) => r.logs.slice(marks[i]).filter((l) => LEADERSHIP.test(l.msg)).map((l) => `${r.name}: ${l.msg}`));
}

/**
 * Redlock mode with real `lockd run` processes (three replicas running a job every second, the
 * ledger job of test/helpers/ledger-replicas.ts) on three independent redis-servers, and faults of
 * the servers: a minority lost changes nothing; a majority lost stops everything (and every slot
 * of the outage is recorded afterwards); a primary that comes back empty breaks neither the
 * tokens nor the slots.
 */
describe('redis redlock: three primaries, three lockd processes', { timeout: 240_000 }, () => {
  before(async () => {
    servers = await startRedlockPrimaries(3, TTL_MS);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('kill -9 of one primary: no leader change, no missed slot, tokens increase', async () => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE, jobExtra: 'deadline: 30s' });
    try {
      const marks = run.cluster.replicas.map((r) => r.logs.length);
      const killedAt = Date.now();
      servers[0]!.kill9();
      await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > killedAt).length >= 6, 20_000);
      assert.deepEqual(leadershipChanges(run, marks), [], 'leadership changed with two of three primaries up');
      const to = Math.max(...readLedger(run.ledger).map((e) => e.slot));
      const records = await assertAccounted(run, to);
      const notRun = records.filter((r) => r.slot >= killedAt && (r.outcome === 'missed' || r.outcome === 'skipped'));
      assert.deepEqual(notRun.map((r) => `${new Date(r.slot).toISOString()} ${r.outcome} ${r.reason}`), [], 'slots were missed with a majority up');
    } finally {
      await run.cluster.stop();
      await servers[0]!.restart();
    }
  });

  it('SIGSTOP of one primary (it answers nothing): no leader change, no missed slot', async () => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE, jobExtra: 'deadline: 30s' });
    try {
      const marks = run.cluster.replicas.map((r) => r.logs.length);
      const frozenAt = Date.now();
      servers[2]!.freeze();
      await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > frozenAt).length >= 2 * (TTL_MS / 1000), 30_000);
      assert.deepEqual(leadershipChanges(run, marks), [], 'leadership changed with one of three primaries frozen');
      const records = await assertAccounted(run, Math.max(...readLedger(run.ledger).map((e) => e.slot)));
      const notRun = records.filter((r) => r.slot >= frozenAt && (r.outcome === 'missed' || r.outcome === 'skipped'));
      assert.deepEqual(notRun.map((r) => `${new Date(r.slot).toISOString()} ${r.outcome} ${r.reason}`), [], 'slots were missed with a majority answering');
    } finally {
      servers[2]!.thaw();
      await run.cluster.stop();
    }
  });

  it('kill -9 of two primaries: nothing starts; after they return, every slot of the outage is accounted for', async () => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE, jobExtra: 'deadline: 30s' });
    try {
      const killedAt = Date.now();
      servers[0]!.kill9();
      servers[1]!.kill9();
      // Long enough for a re-election on the one primary left, if one primary could elect.
      await waitFor('an outage of 4 TTLs', () => Date.now() > killedAt + 4 * TTL_MS, 5 * TTL_MS, 50);
      const restartedAt = Date.now();
      // The slot under way at the kill may have been recorded just before it; none after.
      const startedDuring = readLedger(run.ledger).filter((e) => e.slot > killedAt + 1000 && e.slot < restartedAt);
      assert.deepEqual(startedDuring, [], 'a run started with one of three primaries up');
      // The leader self-fenced: its renewals reached one primary of three.
      assert.ok(run.cluster.replicas.some((r) => r.logs.some((l) => l.msg.startsWith('leadership lost'))), 'the leader kept its leadership with one primary of three');
      await Promise.all([servers[0]!.restart(), servers[1]!.restart()]);
      const resumed = await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > restartedAt).length >= 3, 30_000);
      await assertAccounted(run, Math.max(...resumed.map((e) => e.slot)));
    } finally {
      await run.cluster.stop();
    }
  });

  it('a primary restarts empty, then another dies: tokens still increase, no slot twice, every slot accounted for', async () => {
    const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE, jobExtra: 'deadline: 30s' });
    try {
      const wipedAt = Date.now();
      await servers[0]!.restartEmpty();
      await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > wipedAt + TTL_MS).length >= 3, 30_000);
      // The majority left is the empty primary (voting again after one TTL) and one that kept everything.
      const killedAt = Date.now();
      servers[1]!.kill9();
      const after = await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > killedAt).length >= 5, 30_000);
      await servers[1]!.restart();
      await assertAccounted(run, Math.max(...after.map((e) => e.slot)));
    } finally {
      await run.cluster.stop();
    }
  });
});
