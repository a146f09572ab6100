import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackendUnavailableError } from '../../src/errors.js';
import { harness, jobConfig, seedState, type Harness } from '../helpers/scheduler-harness.js';
import { FakeStore } from '../helpers/fake-backend.js';

const M = (n: number): number => Date.parse('2026-05-04T10:00:00.000Z') + n * 60_000;

/** Every slot of `from..to` (minutes) that has a record, as `[minute, outcome]`. */
function outcomes(records: Array<{ slot: number; outcome: string }>, from: number, to: number): Array<[number, string | undefined]> {
  const bySlot = new Map(records.map((r) => [r.slot, r.outcome]));
  const out: Array<[number, string | undefined]> = [];
  for (let m = from; m <= to; m++) out.push([m, bySlot.get(M(m))]);
  return out;
}

/** Advances the fake clock in 100 ms steps until the scheduler is idle (retries sleep on that clock). */
async function untilIdle(h: Harness, maxMs = 120_000): Promise<void> {
  let done = false;
  void h.scheduler.idle().then(() => (done = true));
  for (let waited = 0; !done; waited += 100) {
    assert.ok(waited < maxMs, 'the scheduler never became idle');
    await h.clock.advance(100);
  }
}

describe('the slot ledger: every slot accounted for, tokens in slot order', () => {
  it('a run_all backlog cut short by a failover is finished by the next leader: no slot left without a record', async () => {
    const store = new FakeStore();
    seedState(store, 'j', { lastSlot: M(0) });
    const job = jobConfig('j', { misfire: 'run_all', deadlineMs: 3_600_000 });
    // Leader A at 10:30:30 takes over a 30-minute backlog; its runs take until the test finishes them.
    const a = await harness([job], { now: M(30) + 30_000, store });
    await a.scheduler.start();
    await a.clock.advance(0);
    a.runner.finish('success');
    await a.clock.advance(0);
    assert.equal(a.runner.attempts.length, 2, 'A ran 10:01 and started 10:02');
    // The live slot 10:31 comes while the backlog is still running, then A's term ends.
    await a.clock.advanceTo(M(31) + 500);
    a.backend.expire(a.leader);
    await untilIdle(a);

    const b = await harness([job], { now: M(31) + 40_000, store });
    b.runner.auto = 'success';
    await b.scheduler.start();
    await untilIdle(b);
    const missing = outcomes(b.records('j'), 1, 31).filter(([, outcome]) => outcome === undefined);
    assert.deepEqual(missing, [], 'slots with no record after the handover');
    const state = b.state('j')!;
    const count = (outcome: string): number => b.records('j').filter((r) => r.outcome === outcome).length;
    assert.deepEqual({ missed: state.missedTotal, skipped: state.skippedTotal ?? 0 }, { missed: count('missed'), skipped: count('skipped') }, 'stored totals match the records');
    const ran = b.records('j').filter((r) => r.token !== undefined).sort((x, y) => x.slot - y.slot);
    for (let i = 1; i < ran.length; i++) assert.ok(BigInt(ran[i]!.token!) > BigInt(ran[i - 1]!.token!), `token order at ${new Date(ran[i]!.slot).toISOString()}`);
  });

  it('a transient write error during a backlog is retried: the backlog is recorded and counted in full', async () => {
    const store = new FakeStore();
    seedState(store, 'j', { lastSlot: M(0) });
    const h = await harness([jobConfig('j', { misfire: 'skip', history: 20 })], { now: M(50) + 30_000, store, auto: 'success' });
    let failures = 0;
    h.backend.before('guardedPut', (args) => {
      if (String(args[1]) === `runs/j/${M(40)}` && failures < 2) {
        failures += 1;
        throw new BackendUnavailableError('etcd: request timed out');
      }
    });
    await h.scheduler.start();
    await untilIdle(h);
    assert.equal(failures, 2);
    assert.equal(h.records('j').length, 20, 'the newest `history` slots each have a record');
    assert.equal(h.state('j')?.missedTotal, 50, 'every slot of the backlog is counted');
    assert.equal(h.state('j')?.lastSlot, M(50));
  });

  it('tokens increase in slot order when a live slot comes while a backlog is being recorded', async () => {
    const store = new FakeStore();
    seedState(store, 'j', { lastSlot: M(0) });
    const h = await harness([jobConfig('j', { misfire: 'run_once', overlap: 'allow' })], { now: M(20) + 59_900, store, auto: 'success' });
    // Record writes are slow: the live slot 10:21 comes due while the backlog's missed records are written.
    h.backend.before('guardedPut', async () => {
      await new Promise<void>((resolve) => h.clock.setTimer(10, resolve));
    });
    await h.scheduler.start();
    await untilIdle(h);
    const ran = h.records('j').filter((r) => r.token !== undefined);
    assert.deepEqual(ran.map((r) => r.slot), [M(20), M(21)]);
    assert.ok(BigInt(ran[0]!.token!) < BigInt(ran[1]!.token!), `slot 10:20 got token ${ran[0]!.token}, 10:21 got ${ran[1]!.token}`);
  });

  it('a takeover costs no extra slot: the catch-up run delays the next slot instead of skipping it', async () => {
    const store = new FakeStore();
    seedState(store, 'j', { lastSlot: M(9) });
    // A new leader at 10:10:59.5 runs the missed 10:10 late; that run is still going at 10:11.
    const h = await harness([jobConfig('j')], { now: M(10) + 59_500, store });
    await h.scheduler.start();
    await h.clock.advanceTo(M(11) + 200);
    assert.equal(h.runner.attempts.length, 1, 'only the catch-up run so far');
    h.runner.finish('success');
    await h.clock.advance(10);
    assert.equal(h.runner.attempts.length, 2, 'the next slot ran once the catch-up run ended');
    h.runner.finish('success');
    await untilIdle(h);
    assert.deepEqual(outcomes(h.records('j'), 10, 11), [
      [10, 'success'],
      [11, 'success'],
    ]);
  });
});

describe('bursts', () => {
  it('1,000 jobs due in the same second all start, and Node warns of no listener leak', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const jobs = Array.from({ length: 1000 }, (_, i) => jobConfig(`j${i}`, { overlap: i % 2 === 0 ? 'skip' : 'allow' }));
      const h = await harness(jobs, { now: M(0) + 59_000 });
      await h.scheduler.start();
      await h.clock.advanceTo(M(1) + 10);
      await untilIdleOr(h, () => h.runner.attempts.length === 1000);
      assert.equal(h.runner.attempts.length, 1000);
      while (h.runner.live().length > 0) h.runner.finish('success');
      await untilIdle(h);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')), []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

/** Advances the fake clock in 10 ms steps until `done()` holds. */
async function untilIdleOr(h: Harness, done: () => boolean, maxMs = 60_000): Promise<void> {
  for (let waited = 0; !done(); waited += 10) {
    assert.ok(waited < maxMs, 'condition never held');
    await h.clock.advance(10);
  }
}
