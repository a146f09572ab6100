import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { MAX_TIMER_MS } from '../../src/scheduler/scheduler.js';
import { harness, jobConfig } from '../helpers/scheduler-harness.js';

const T0 = Date.parse('2026-05-04T10:00:30.000Z');
const M = (n: number): number => Date.parse('2026-05-04T10:00:00.000Z') + n * 60_000;

describe('one timer', () => {
  it('1,000 jobs: one pending timer at a time, every due slot runs once', async () => {
    const jobs = Array.from({ length: 1000 }, (_, i) => jobConfig(`job${i}`, { schedule: `${i % 60} * * * * *` }));
    const h = await harness(jobs, { now: T0, auto: 'success' });
    await h.scheduler.start();
    assert.equal(h.clock.pendingTimers(), 1);
    let maxPending = 0;
    let fires = 0;
    await h.clock.advance(120_000, () => {
      fires += 1;
      maxPending = Math.max(maxPending, h.clock.pendingTimers());
    });
    await h.scheduler.idle();
    assert.equal(maxPending, 1);
    // One timer per distinct due second (60 per minute), not per job.
    assert.ok(fires <= 121, `${fires} timer firings`);
    // Every job is due once per minute at its second: two minutes -> two runs each.
    assert.equal(h.runner.attempts.length, 2000);
    const perJob = new Map<string, number>();
    for (const a of h.runner.attempts) perJob.set(a.request.job.name, (perJob.get(a.request.job.name) ?? 0) + 1);
    assert.ok([...perJob.values()].every((n) => n === 2));
  });

  it('the timer is never longer than MAX_TIMER_MS, so a wall-clock step forward is noticed', async () => {
    const h = await harness([jobConfig('daily', { schedule: '0 12 * * *' })], { now: T0, auto: 'success' });
    await h.scheduler.start();
    assert.deepEqual(h.clock.pendingDelays(), [MAX_TIMER_MS]);
    h.clock.stepWall(Date.parse('2026-05-04T12:00:10Z') - T0);
    await h.clock.advance(MAX_TIMER_MS);
    await h.scheduler.idle();
    assert.deepEqual(h.runner.envs().map((e) => e.LOCKD_SCHEDULED_AT), ['2026-05-04T12:00:00.000Z']);
  });

  it('jitter delays the start, not the slot id', async () => {
    const h = await harness([jobConfig('j', { schedule: '0 * * * *', jitterMs: 10_000 })], { now: T0, auto: 'success', random: () => 0.5 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(60) + 4_999);
    assert.equal(h.runner.attempts.length, 0);
    await h.clock.advance(1);
    assert.equal(h.runner.attempts.length, 1);
    assert.equal(h.runner.attempts[0]?.startedAt, M(60) + 5_000);
    assert.equal(h.runner.envs()[0]?.LOCKD_RUN_ID, `j:${M(60)}`);
    const started = h.events.find((e) => e[0] === 'runStarted');
    assert.deepEqual(started, ['runStarted', 'j', `j:${M(60)}`, 5_000]);
  });

  it('several slots due at once (a pause): each within its deadline runs, oldest first; older ones missed/deadline', async () => {
    const h = await harness([jobConfig('j', { deadlineMs: 90_000 })], { now: T0, auto: 'success' });
    await h.scheduler.start();
    h.clock.freeze(5 * 60_000);
    await h.clock.advance(MAX_TIMER_MS);
    await h.scheduler.idle();
    // The timer meant for 10:01 fires at 10:05:30: 10:01..10:05 are due, 10:04 and 10:05 within 90 s;
    // 10:06 then comes on time.
    assert.deepEqual(
      h.records('j').map((r) => [new Date(r.slot).toISOString().slice(11, 16), r.outcome, r.reason ?? null]),
      [
        ['10:01', 'missed', 'deadline'],
        ['10:02', 'missed', 'deadline'],
        ['10:03', 'missed', 'deadline'],
        ['10:04', 'success', null],
        ['10:05', 'success', null],
        ['10:06', 'success', null],
      ],
    );
    assert.equal(h.state('j')?.missedTotal, 3);
    const tokens = h.records('j').filter((r) => r.token !== undefined).map((r) => BigInt(r.token!));
    assert.ok(tokens[0]! < tokens[1]!, 'tokens increase in slot order');
  });

  it('several slots due at once after a pause with misfire skip: late, not unscheduled -> each within its deadline runs', async () => {
    const h = await harness([jobConfig('j', { misfire: 'skip' })], { now: T0, auto: 'success' });
    await h.scheduler.start();
    h.clock.freeze(60_000);
    await h.clock.advance(MAX_TIMER_MS);
    await h.scheduler.idle();
    assert.deepEqual(
      h.records('j').map((r) => [r.slot, r.outcome, r.reason ?? null]),
      [
        [M(1), 'success', null],
        [M(2), 'success', null],
      ],
    );
  });

  it('one slot due later than its deadline -> missed/deadline', async () => {
    const h = await harness([jobConfig('j', { schedule: '0 * * * *', deadlineMs: 30_000 })], { now: T0, auto: 'success' });
    await h.scheduler.start();
    await h.clock.advanceTo(M(59) + 30_000);
    h.clock.stepWall(60_001);
    await h.clock.advance(MAX_TIMER_MS);
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 0);
    assert.deepEqual([h.record('j', M(60))?.outcome, h.record('j', M(60))?.reason], ['missed', 'deadline']);
  });

  it('a wall-clock step backward does not run a slot twice', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    await h.clock.advanceTo(M(2));
    h.clock.stepWall(-90_000);
    await h.clock.advance(180_000);
    await h.scheduler.idle();
    const ids = h.runner.envs().map((e) => e.LOCKD_RUN_ID);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(ids, [M(1), M(2), M(3)].map((s) => `j:${s}`));
  });
});

describe('lifecycle', () => {
  it('stopScheduling: no timer, no new slots; a running run continues; idle waits for it', async () => {
    const h = await harness([jobConfig('j')], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    h.scheduler.stopScheduling();
    h.scheduler.stopScheduling();
    assert.equal(h.clock.pendingTimers(), 0);
    let idle = false;
    const done = h.scheduler.idle().then(() => (idle = true));
    await h.clock.advance(5 * 60_000);
    assert.equal(idle, false);
    assert.equal(h.runner.attempts.length, 1);
    h.runner.finish('success');
    await done;
    assert.equal(h.record('j', M(1))?.outcome, 'success');
    assert.equal(await h.scheduler.trigger('j'), null);
  });

  it('stopScheduling makes a slot waiting in the queue give up unrecorded', async () => {
    const h = await harness([jobConfig('j', { overlap: 'queue' })], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(2));
    h.scheduler.stopScheduling();
    h.runner.finish('success');
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 1);
    assert.equal(h.record('j', M(2)), undefined, 'left for the next leader');
    assert.equal(h.state('j')?.lastSlot, M(1));
  });

  it('leader signal aborted -> scheduling stops by itself', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    h.backend.expire(h.leader);
    assert.equal(h.clock.pendingTimers(), 0);
    await h.clock.advance(5 * 60_000);
    assert.equal(h.runner.attempts.length, 0);
  });

  it('setJobs: removed job gets no slots, new job starts from now, unchanged keeps its slot', async () => {
    const keep = jobConfig('keep', { schedule: '0 * * * *', jitterMs: 1_000 });
    const h = await harness([keep, jobConfig('gone')], { now: T0, auto: 'success', random: () => 0.999 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1) + 10_000);
    h.scheduler.setJobs([{ ...keep, env: { X: '1' } }, jobConfig('fresh', { schedule: '*/5 * * * *' })]);
    assert.equal(h.clock.pendingTimers(), 1);
    await h.clock.advanceTo(M(60) + 999);
    await h.scheduler.idle();
    const ran = h.runner.attempts.map((a) => `${a.request.job.name}@${new Date(Number(a.request.lockdEnv.LOCKD_RUN_ID?.split(':')[1])).toISOString().slice(11, 16)}`);
    assert.equal(ran.filter((r) => r.startsWith('gone@')).length, 1, 'only the slot before setJobs');
    assert.equal(ran.filter((r) => r.startsWith('fresh@'))[0], 'fresh@10:05');
    assert.equal(ran.filter((r) => r.startsWith('fresh@')).length, 12, '10:05 to 11:00');
    assert.deepEqual(ran.filter((r) => r.startsWith('keep@')), ['keep@11:00']);
    assert.equal(h.runner.attempts.find((a) => a.request.job.name === 'keep')?.startedAt, M(60) + 999, 'same jitter as before');
    assert.deepEqual(h.runner.attempts.find((a) => a.request.job.name === 'keep')?.request.job.env, { X: '1' });
    assert.equal(h.state('fresh')?.missedTotal, 0);
    await assert.rejects(h.scheduler.trigger('gone'), UsageError);
  });

  it('start twice -> UsageError; start with an invalid leader lease -> rejects', async () => {
    const h = await harness([jobConfig('j')], { now: T0 });
    await h.scheduler.start();
    await assert.rejects(h.scheduler.start(), UsageError);
    const h2 = await harness([jobConfig('j')], { now: T0 });
    h2.backend.lapse(h2.leader);
    await assert.rejects(h2.scheduler.start(), /leader lease is no longer valid/);
    assert.equal(h2.clock.pendingTimers(), 0);
  });

  it('idle rejects when its signal aborts', async () => {
    const h = await harness([jobConfig('j')], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    const ctl = new AbortController();
    const waiting = h.scheduler.idle({ signal: ctl.signal });
    ctl.abort(new Error('grace over'));
    await assert.rejects(waiting, /grace over/);
    h.runner.finish('success');
    await h.scheduler.idle();
  });
});

describe('trigger', () => {
  it('runs once now as a manual run and resolves with its run id once recorded', async () => {
    const h = await harness([jobConfig('j', { schedule: '0 * * * *' })], { now: T0 });
    await h.scheduler.start();
    const id = await h.scheduler.trigger('j');
    assert.equal(id, `j:${T0}m`, 'a manual run has a run id (and key) of its own');
    const rec = h.manualRecord('j', T0)!;
    assert.deepEqual([rec.manual, rec.outcome, rec.runId], [true, 'running', id]);
    assert.equal(h.runner.attempts.length, 1);
    assert.equal(h.runner.envs()[0]?.LOCKD_SCHEDULED_AT, new Date(T0).toISOString());
    h.runner.finish('success');
    await h.scheduler.idle();
    assert.equal(h.manualRecord('j', T0)?.outcome, 'success');
    assert.equal(h.state('j')?.lastSlot, T0, 'a manual run does not move lastSlot (baseline kept)');
    assert.equal(h.state('j')?.lastRunId, id);
  });

  it('same overlap policy: skipped while running -> null, recorded skipped and manual', async () => {
    const h = await harness([jobConfig('j', { schedule: '0 * * * *' })], { now: T0 });
    await h.scheduler.start();
    await h.scheduler.trigger('j');
    await h.clock.advance(1);
    assert.equal(await h.scheduler.trigger('j'), null);
    const rec = h.manualRecord('j', T0 + 1)!;
    assert.deepEqual([rec.outcome, rec.reason, rec.manual], ['skipped', 'overlap', true]);
    assert.equal(h.runner.attempts.length, 1);
    h.runner.finish('success');
    await h.scheduler.idle();
  });

  it('a manual run in the very millisecond of a scheduled slot: both run, each with its own record and token, in order', async () => {
    const h = await harness([jobConfig('j', { overlap: 'allow' })], { now: M(1) - 5, auto: 'success' });
    await h.scheduler.start();
    await h.clock.advance(5);
    const id = await h.scheduler.trigger('j');
    await h.scheduler.idle();
    assert.equal(id, `j:${M(1)}m`);
    assert.equal(h.record('j', M(1))?.outcome, 'success', 'the scheduled slot ran');
    assert.equal(h.manualRecord('j', M(1))?.outcome, 'success', 'the manual run ran');
    assert.ok(BigInt(h.record('j', M(1))!.token!) < BigInt(h.manualRecord('j', M(1))!.token!), 'tokens in the order they were taken');
  });

  it('unknown job -> UsageError', async () => {
    const h = await harness([jobConfig('j')], { now: T0 });
    await h.scheduler.start();
    await assert.rejects(h.scheduler.trigger('nope'), UsageError);
  });
});

describe('records', () => {
  it('prunes run records to the newest `history`, listing once', async () => {
    const h = await harness([jobConfig('j', { history: 3 })], { now: T0, auto: 'success' });
    await h.scheduler.start();
    // The orphan settling at the head of the line lists the job's records once start() is done.
    await h.scheduler.idle();
    const listsAtStart = h.backend.callsOf('list').length;
    await h.clock.advanceTo(M(8));
    await h.scheduler.idle();
    assert.deepEqual(h.records('j').map((r) => r.slot), [M(6), M(7), M(8)]);
    assert.equal(h.backend.callsOf('list').length, listsAtStart + 1);
    assert.equal(h.state('j')?.lastSlot, M(8));
  });

  it('does not prune once the leader lease is gone (the next leader owns the records)', async () => {
    const h = await harness([jobConfig('j', { history: 1 })], { now: T0 });
    for (const n of [-3, -2, -1]) h.store.kv.set(`runs/j/${M(n)}`, JSON.stringify({ job: 'j', slot: M(n), outcome: 'success', leaderToken: '0' }));
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    assert.equal(h.runner.live().length, 1);
    // Losing leadership kills the run; what follows it must not delete records.
    h.backend.expire(h.leader);
    await h.scheduler.idle();
    assert.equal(h.backend.callsOf('delete').length, 0);
    assert.equal(h.records('j').length, 4);
  });

  it('every record write is a guardedPut; never put', async () => {
    const h = await harness([jobConfig('j', { retries: 1, retryBackoffMs: 1 })], { now: T0, auto: 'failed' });
    await h.scheduler.start();
    await h.clock.advanceTo(M(3) + 1);
    await h.scheduler.idle();
    assert.equal(h.backend.callsOf('put').length, 0);
    assert.ok(h.backend.callsOf('guardedPut').length > 0);
  });

  it('logs run start/end at info with job, run_id, token; metrics hooks fire', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    await h.scheduler.idle();
    const token = h.record('j', M(1))?.token;
    for (const msg of ['run started', 'run finished']) {
      const line = h.logs.find((l) => l.msg === msg);
      assert.deepEqual([line?.level, line?.job, line?.run_id, line?.token, line?.component], [30, 'j', `j:${M(1)}`, token, 'scheduler']);
    }
    assert.deepEqual(
      h.events.map((e) => e[0]),
      ['lockAcquired', 'runStarted', 'runFinished', 'lockReleased'],
    );
  });
});

describe('a reload while start() is still reading state', () => {
  it('schedules each job once (no slot dispatched twice)', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    const starting = h.scheduler.start();
    h.scheduler.setJobs([jobConfig('j')]);
    await starting;
    await h.clock.advanceTo(M(3));
    await h.scheduler.idle();
    assert.deepEqual(h.runner.attempts.map((a) => a.request.lockdEnv.LOCKD_RUN_ID), [`j:${M(1)}`, `j:${M(2)}`, `j:${M(3)}`]);
    assert.deepEqual(h.logs.filter((l) => l.msg.startsWith('slot skipped') || l.msg.startsWith('slot already recorded')), []);
  });
});
