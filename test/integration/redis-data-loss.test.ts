import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { createBackend } from '../../src/election/create-backend.js';
import { assertLedgerInvariants, readLedger, waitForLedger } from '../helpers/ledger.js';
import { justBeforeASlot, ledgerHistory, startLedgerReplicas, type LedgerRun } from '../helpers/ledger-replicas.js';
import type { ProcessBackendTarget } from '../helpers/lockd-cluster.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { assertSlotsAccounted, firstSlotAfter } from '../helpers/slot-accounting.js';

const TTL_MS = 3000;
const SCHEDULE = '* * * * * *';
const LOSS_LOG = 'redis: data loss';
const iso = (ms: number): string => new Date(ms).toISOString();

/** `lockd_backend_data_loss_total` of the replica serving `/metrics` on `port`; undefined when it exports none. */
async function dataLossMetric(port: number): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = /^lockd_backend_data_loss_total (\S+)$/m.exec(text)?.[1];
  return value === undefined ? undefined : Number(value);
}

/** Three ledger replicas on `redis`, each serving /metrics on a port of its own. */
async function replicasOn(redis: RedisServer): Promise<{ run: LedgerRun; ports: Map<string, number> }> {
  const target: ProcessBackendTarget = { name: 'redis', setup: async () => undefined, teardown: async () => undefined, backendYaml: () => `  type: redis\n  url: ${redis.url}` };
  const ports = new Map<string, number>();
  for (const node of ['a', 'b', 'c']) ports.set(node, await freePort());
  const run = await startLedgerReplicas(target, { ttlMs: TTL_MS, schedule: SCHEDULE, extraYamlFor: (node) => `http:\n  listen: 127.0.0.1:${ports.get(node)}` });
  return { run, ports };
}

/**
 * Redis restarting under three `lockd run` replicas of a job every second (DESIGN §1.2, research
 * pitfall 14): without persistence the restart loses every key, which each lockd must notice by
 * the epoch in `meta` (log line, `lockd_backend_data_loss_total`), and the slots from then on are
 * run or recorded `missed: backend_data_loss`, never caught up from the lost state, with tokens
 * still increasing; with `appendonly yes` + `appendfsync always` nothing is lost and nothing is
 * reported.
 */
describe('redis: a restart that loses the data, and one that does not', { timeout: 180_000 }, () => {
  let redis: RedisServer | undefined;
  after(() => redis?.stop());

  it('no persistence: the loss is detected and reported by every replica, no slot twice, tokens increasing, the outage recorded backend_data_loss', async (t) => {
    redis = await startRedis({ persistence: false });
    const { run, ports } = await replicasOn(redis);
    try {
      const marks = run.cluster.replicas.map((r) => r.logs.length);
      await justBeforeASlot();
      const killedWall = Date.now();
      redis.kill9();
      await redis.restart();
      const restartWall = Date.now();
      // Every replica was running on the lost data, so every one notices at its next call.
      const reports = await Promise.all(run.cluster.replicas.map((r, i) => r.waitForLog((l) => l.msg.startsWith(LOSS_LOG), 5 * TTL_MS, marks[i])));
      assert.ok(reports.every((l) => l.level === 50), 'the data loss is logged at error level');
      const entries = await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > restartWall).length >= 3, 6 * TTL_MS);
      const toWall = Math.max(...entries.map((e) => e.slot));

      assertLedgerInvariants(readLedger(run.ledger));
      const records = await ledgerHistory(run);
      // The records of before the loss are gone with it: account for the slots from the kill on.
      const from = firstSlotAfter(killedWall);
      assertSlotsAccounted({ schedule: SCHEDULE, ledger: entries.filter((e) => e.slot >= from), records, from, to: toWall });
      const lossRecords = records.filter((r) => r.reason === 'backend_data_loss');
      assert.ok(lossRecords.length >= 1, `no slot recorded missed: backend_data_loss; records: ${records.map((r) => `${iso(r.slot)} ${r.outcome}/${r.reason ?? ''}`).join(', ')}`);
      assert.ok(
        records.every((r) => r.slot >= from),
        `records of slots before the loss: ${records.filter((r) => r.slot < from).map((r) => iso(r.slot)).join(', ')}`,
      );
      for (const [node, port] of ports) assert.equal(await dataLossMetric(port), 1, `lockd_backend_data_loss_total of ${node}`);
      t.diagnostic(`${lossRecords.length} slots recorded missed: backend_data_loss (${lossRecords.map((r) => iso(r.slot)).join(', ')}); killed ${iso(killedWall)}`);
    } finally {
      await run.cluster.stop();
      await redis.stop();
    }
  });

  it('appendonly yes + appendfsync always: a restart keeps every run record, and no loss is reported', async () => {
    redis = await startRedis();
    const { run, ports } = await replicasOn(redis);
    try {
      const marks = run.cluster.replicas.map((r) => r.logs.length);
      await justBeforeASlot();
      redis.kill9();
      await redis.restart();
      const restartWall = Date.now();
      const entries = await waitForLedger(run.ledger, (e) => e.filter((x) => x.slot > restartWall).length >= 3, 6 * TTL_MS);
      const toWall = Math.max(...entries.map((e) => e.slot));

      assertLedgerInvariants(readLedger(run.ledger));
      const records = await ledgerHistory(run);
      const recorded = new Map(records.map((r) => [r.slot, r]));
      const lost = entries.filter((e) => recorded.get(e.slot)?.outcome !== 'success').map((e) => iso(e.slot));
      assert.deepEqual(lost, [], 'ran, but the run record is gone or not a success');
      assertSlotsAccounted({ schedule: SCHEDULE, ledger: entries, records, from: Math.min(...entries.map((e) => e.slot)), to: toWall });
      const reported = run.cluster.replicas.flatMap((r, i) => r.logs.slice(marks[i]).filter((l) => l.msg.startsWith(LOSS_LOG)));
      assert.deepEqual(reported, [], 'a data loss was reported');
      for (const [node, port] of ports) assert.equal(await dataLossMetric(port), 0, `lockd_backend_data_loss_total of ${node}`);
    } finally {
      await run.cluster.stop();
      await redis.stop();
    }
  });

  it('a backend whose data is wiped under it (FLUSHALL) loses its lock at the next call, and the next token is still greater', async () => {
    redis = await startRedis({ persistence: false });
    const logger = pino({ level: 'silent' });
    const backend = await createBackend({ type: 'redis', url: redis.url }, { cluster: 'wiped', node: 'n', ttlMs: TTL_MS, logger });
    try {
      const first = await backend.tryAcquire('job');
      assert.ok(first);
      assert.equal(await backend.guardedPut(first, 'runs/job/1', 'x'), true);
      await redis.send(['FLUSHALL']);
      await assert.rejects(backend.guardedPut(first, 'runs/job/2', 'y'), /no longer held/);
      assert.equal(first.signal.aborted, true, 'the lease of the lost data is aborted');
      assert.equal(backend.health().dataLossesDetected, 1);
      const loss = await backend.dataLoss?.();
      assert.ok(loss, 'the loss is recorded');
      assert.notEqual(loss.epoch, loss.lostEpoch);
      const second = await backend.tryAcquire('job');
      assert.ok(second);
      assert.ok(second.token > first.token, `token ${second.token} after the loss is not above ${first.token}`);
      assert.equal(await backend.get('runs/job/1'), undefined);
      await second.release();
    } finally {
      await backend.close();
      await redis.stop();
    }
  });

  it('a fresh lockd on an empty server takes it for a new cluster; a lockd that outlived the loss records it there at its next call', async () => {
    redis = await startRedis({ persistence: false });
    const open = (node: string) => createBackend({ type: 'redis', url: redis!.url }, { cluster: 'fresh', node, ttlMs: TTL_MS, logger: pino({ level: 'silent' }) });
    const survivor = await open('survivor');
    try {
      const lease = await survivor.tryAcquire('job');
      assert.ok(lease);
      await redis.send(['FLUSHALL']);
      const fresh = await open('fresh');
      try {
        assert.equal(await fresh.dataLoss?.(), null, 'nothing tells the fresh lockd that data was lost');
        assert.equal(fresh.health().dataLossesDetected, 0);
        // The survivor's next call finds its epoch gone and records the loss in the fresh layout.
        await assert.rejects(survivor.guardedPut(lease, 'runs/job/1', 'x'), /no longer held/);
        assert.equal(survivor.health().dataLossesDetected, 1);
        const loss = await fresh.dataLoss?.();
        assert.ok(loss, 'the loss is recorded in the layout the fresh lockd made');
        assert.equal(loss.epoch, (await survivor.dataLoss?.())?.epoch, 'both use the fresh layout');
        assert.equal(fresh.health().dataLossesDetected, 0, 'the fresh lockd lost nothing itself');
      } finally {
        await fresh.close();
      }
    } finally {
      await survivor.close();
      await redis.stop();
    }
  });
});
