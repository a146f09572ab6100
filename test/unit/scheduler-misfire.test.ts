import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_BACKLOG_SLOTS, MAX_RUN_ALL, planBacklog } from '../../src/scheduler/misfire.js';
import { FakeStore } from '../helpers/fake-backend.js';
import { harness, jobConfig, seedState } from '../helpers/scheduler-harness.js';

const T = (hhmm: string): number => Date.parse(`2026-05-04T${hhmm}:00.000Z`);
const MIN = 60_000;
const HOUR = 60 * MIN;

describe('planBacklog', () => {
  const hourly = (over: Parameters<typeof jobConfig>[1] = {}) => jobConfig('j', { schedule: '0 * * * *', ...over });

  it('run_once: the latest slot runs, the others are missed (no_leader)', () => {
    const plan = planBacklog(hourly({ deadlineMs: HOUR }), T('10:00'), T('13:30'), 'no_leader');
    assert.deepEqual(plan.run, [T('13:00')]);
    assert.deepEqual(plan.missed, [T('11:00'), T('12:00')]);
    assert.equal(plan.missedCount, 2);
    assert.equal(plan.reason, 'no_leader');
    assert.equal(plan.newest, T('13:00'));
    assert.equal(plan.truncated, false);
  });

  it('run_once: deadline boundary is inclusive', () => {
    const at = planBacklog(hourly({ deadlineMs: 30 * MIN }), T('10:00'), T('13:30'), 'no_leader');
    assert.deepEqual(at.run, [T('13:00')]);
    const past = planBacklog(hourly({ deadlineMs: 30 * MIN - 1 }), T('10:00'), T('13:30'), 'no_leader');
    assert.deepEqual(past.run, []);
    assert.deepEqual(past.missed, [T('11:00'), T('12:00'), T('13:00')]);
    assert.equal(past.missedCount, 3);
  });

  it('skip: every slot is missed (misfire_skip), even one inside the deadline', () => {
    const plan = planBacklog(hourly({ misfire: 'skip', deadlineMs: 10 * HOUR }), T('10:00'), T('13:00'), 'no_leader');
    assert.deepEqual(plan.run, []);
    assert.deepEqual(plan.missed, [T('11:00'), T('12:00'), T('13:00')]);
    assert.equal(plan.reason, 'misfire_skip');
  });

  it('backend_data_loss: nothing runs whatever the policy, every slot is missed with that reason', () => {
    for (const misfire of ['run_once', 'run_all', 'skip'] as const) {
      const plan = planBacklog(hourly({ misfire, deadlineMs: 10 * HOUR }), T('10:00'), T('13:00'), 'backend_data_loss');
      assert.deepEqual(plan.run, [], misfire);
      assert.deepEqual(plan.missed, [T('11:00'), T('12:00'), T('13:00')], misfire);
      assert.equal(plan.reason, 'backend_data_loss', misfire);
    }
  });

  it('run_all: each slot within the deadline runs, oldest first; older ones are missed', () => {
    const plan = planBacklog(hourly({ misfire: 'run_all', deadlineMs: 2 * HOUR }), T('08:00'), T('13:00'), 'deadline');
    assert.deepEqual(plan.run, [T('11:00'), T('12:00'), T('13:00')]);
    assert.deepEqual(plan.missed, [T('09:00'), T('10:00')]);
    assert.equal(plan.reason, 'deadline');
  });

  it('run_all: at most 100 runs, the newest', () => {
    const job = jobConfig('j', { schedule: '* * * * *', misfire: 'run_all', deadlineMs: 10 * HOUR });
    const plan = planBacklog(job, T('10:00'), T('12:30'), 'no_leader');
    assert.equal(plan.run.length, MAX_RUN_ALL);
    assert.equal(plan.run[0], T('12:30') - 99 * MIN);
    assert.equal(plan.run[99], T('12:30'));
    assert.equal(plan.missedCount, 150 - 100);
    assert.equal(plan.missed[plan.missed.length - 1], T('12:30') - 100 * MIN);
  });

  it('records individually only the newest `history` missed slots, but counts all', () => {
    const job = hourly({ misfire: 'skip', history: 2 });
    const plan = planBacklog(job, T('00:00'), T('05:00'), 'no_leader');
    assert.deepEqual(plan.missed, [T('04:00'), T('05:00')]);
    assert.equal(plan.missedCount, 5);
  });

  it('enumerates at most 10,000 slots, newest first', () => {
    const job = jobConfig('j', { schedule: '* * * * * *', misfire: 'skip', history: 100 });
    const now = T('12:00');
    const plan = planBacklog(job, now - 24 * HOUR, now, 'no_leader');
    assert.equal(plan.truncated, true);
    assert.equal(plan.missedCount, MAX_BACKLOG_SLOTS);
    assert.equal(plan.missed.length, 100);
    assert.equal(plan.missed[99], now);
    assert.equal(plan.missed[0], now - 99_000);
  });

  it('nothing due: empty plan', () => {
    const plan = planBacklog(hourly(), T('13:00'), T('13:59'), 'no_leader');
    assert.deepEqual([plan.run, plan.missed, plan.missedCount, plan.newest], [[], [], 0, undefined]);
    const behind = planBacklog(hourly(), T('14:00'), T('13:00'), 'no_leader');
    assert.equal(behind.missedCount + behind.run.length, 0);
  });
});

describe('Scheduler.start misfire handling', () => {
  it('no jobs/<job>: no backlog, a baseline state at now, first run at the next slot', async () => {
    const h = await harness([jobConfig('j', { schedule: '0 * * * *' })], { now: T('10:30'), auto: 'success' });
    await h.scheduler.start();
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 0);
    assert.deepEqual(h.records('j'), []);
    assert.equal(h.state('j')?.lastSlot, T('10:30'));
    assert.equal(h.state('j')?.missedTotal, 0);
    await h.clock.advanceTo(T('11:00'));
    await h.scheduler.idle();
    assert.deepEqual(h.runner.envs().map((e) => e.LOCKD_SCHEDULED_AT), ['2026-05-04T11:00:00.000Z']);
  });

  it('run_once: missed records for the older slots, the latest runs, state after it', async () => {
    const store = new FakeStore();
    seedState(store, 'j', { lastSlot: T('10:00'), missedTotal: 7 });
    const h = await harness([jobConfig('j', { schedule: '0 * * * *', deadlineMs: HOUR })], { now: T('13:20'), store, auto: 'success' });
    await h.scheduler.start();
    await h.scheduler.idle();
    assert.deepEqual(
      h.records('j').map((r) => [r.slot, r.outcome, r.reason ?? null]),
      [
        [T('11:00'), 'missed', 'no_leader'],
        [T('12:00'), 'missed', 'no_leader'],
        [T('13:00'), 'success', null],
      ],
    );
    assert.deepEqual(h.runner.envs().map((e) => e.LOCKD_RUN_ID), [`j:${T('13:00')}`]);
    assert.deepEqual({ ...h.state('j'), updatedAt: undefined }, { lastSlot: T('13:00'), lastRunId: `j:${T('13:00')}`, missedTotal: 9, skippedTotal: 0, updatedAt: undefined });
    assert.deepEqual(
      h.events.filter((e) => e[0] === 'slotMissed'),
      [
        ['slotMissed', 'j', 'no_leader'],
        ['slotMissed', 'j', 'no_leader'],
      ],
    );
  });

  it('a slot already recorded by the previous leader is left as is and not counted', async () => {
    const store = new FakeStore();
    seedState(store, 'j', { lastSlot: T('10:00') });
    store.kv.set(`runs/j/${T('11:00')}`, JSON.stringify({ job: 'j', slot: T('11:00'), outcome: 'success', by: 'old leader' }));
    const h = await harness([jobConfig('j', { schedule: '0 * * * *', misfire: 'skip' })], { now: T('12:10'), store });
    await h.scheduler.start();
    await h.scheduler.idle();
    assert.equal((h.record('j', T('11:00')) as unknown as { by: string }).by, 'old leader');
    assert.equal(h.record('j', T('12:00'))?.reason, 'misfire_skip');
    assert.equal(h.state('j')?.missedTotal, 1);
    assert.equal(h.runner.attempts.length, 0);
  });

  it('run_all: each slot within the deadline runs, one after another, oldest first', async () => {
    const store = new FakeStore();
    seedState(store, 'j', { lastSlot: T('09:00') });
    const h = await harness([jobConfig('j', { schedule: '0 * * * *', misfire: 'run_all', deadlineMs: 3 * HOUR })], { now: T('13:00'), store });
    await h.scheduler.start();
    // Sequential: the second does not start (nor get skipped as an overlap) before the first ends.
    for (const hh of ['10:00', '11:00', '12:00', '13:00']) {
      await h.clock.advance(0);
      assert.equal(h.runner.live().length, 1);
      assert.equal(h.runner.live()[0]?.request.lockdEnv.LOCKD_SCHEDULED_AT, `2026-05-04T${hh}:00.000Z`);
      h.runner.finish('success');
    }
    await h.scheduler.idle();
    assert.deepEqual(
      h.records('j').map((r) => r.outcome),
      ['success', 'success', 'success', 'success'],
    );
    assert.equal(h.state('j')?.lastSlot, T('13:00'));
  });

  it('caps: 10,000 slots enumerated, records for the newest `history`, all counted', async () => {
    const store = new FakeStore();
    const now = T('12:00');
    seedState(store, 'j', { lastSlot: now - 2 * 24 * HOUR, missedTotal: 5 });
    const h = await harness([jobConfig('j', { schedule: '* * * * * *', misfire: 'skip', history: 3 })], { now, store });
    await h.scheduler.start();
    await h.scheduler.idle();
    assert.deepEqual(
      h.records('j').map((r) => r.slot),
      [now - 2000, now - 1000, now],
    );
    assert.equal(h.state('j')?.missedTotal, 5 + MAX_BACKLOG_SLOTS);
    assert.equal(h.state('j')?.lastSlot, now);
    assert.equal(h.backend.callsOf('guardedPut').filter((c) => String(c[1]).startsWith('runs/')).length, 3);
    assert.ok(h.logs.some((l) => l.level === 40 && l.msg.includes('enumeration cap')));
  });
});
