import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeBackend } from '../helpers/fake-backend.js';
import { harness, jobConfig } from '../helpers/scheduler-harness.js';

const T0 = Date.parse('2026-05-04T10:00:30.000Z');
const M = (n: number): number => Date.parse('2026-05-04T10:00:00.000Z') + n * 60_000;
const GPU = { name: 'gpu', count: 2 };

describe('job seats', () => {
  it('overlap skip: two of three jobs hold the seats, the third is skipped/seats_full and holds no lock', async () => {
    const jobs = ['a', 'b', 'c'].map((name) => jobConfig(name, { seats: GPU }));
    const h = await harness(jobs, { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    assert.equal(h.runner.live().length, 2);
    assert.equal(h.store.seats.holders('gpu').length, 2);
    const skipped = ['a', 'b', 'c'].filter((job) => h.record(job, M(1))?.reason === 'seats_full');
    assert.equal(skipped.length, 1);
    assert.equal(h.record(skipped[0]!, M(1))?.outcome, 'skipped');
    assert.equal(h.store.holder(skipped[0]!), null, 'the job lock was released');
    assert.ok(h.events.some((e) => e[0] === 'slotSkipped' && e[1] === skipped[0] && e[2] === 'seats_full'));

    const envs = h.runner.envs();
    assert.deepEqual(envs.map((e) => e.LOCKD_SEATS), ['2', '2']);
    assert.notEqual(envs[0]?.LOCKD_SEAT_TOKEN, envs[1]?.LOCKD_SEAT_TOKEN);
    assert.notEqual(envs[0]?.LOCKD_SEAT_TOKEN, envs[0]?.LOCKD_FENCING_TOKEN);
    const ran = h.runner.attempts[0]!.request.job.name;
    assert.equal(h.record(ran, M(1))?.seatToken, envs[0]?.LOCKD_SEAT_TOKEN);
    assert.equal(h.record(ran, M(1))?.token, envs[0]?.LOCKD_FENCING_TOKEN);

    h.runner.finish('success');
    h.runner.finish('success');
    await h.scheduler.idle();
    assert.equal(h.store.seats.holders('gpu').length, 0, 'seats released at the end of the runs');
    assert.equal(h.store.holder('a'), null);
  });

  it('overlap queue: waits for a seat a foreign holder frees, then runs', async () => {
    const h = await harness([jobConfig('j', { overlap: 'queue', seats: { name: 'gpu', count: 1 } })], { now: T0 });
    const foreign = new FakeBackend({ store: h.store });
    const held = await foreign.tryAcquireSeat('gpu', 1);
    assert.ok(held);
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    assert.equal(h.runner.attempts.length, 0, 'waits for the seat');
    assert.equal(h.record('j', M(1)), undefined);
    await held.release();
    await h.clock.advance(0);
    assert.equal(h.runner.live().length, 1);
    assert.equal(h.runner.envs()[0]?.LOCKD_SEATS, '1');
    h.runner.finish('success');
    await h.scheduler.idle();
    assert.equal(h.record('j', M(1))?.outcome, 'success');
  });

  it('overlap queue: no seat before the deadline -> missed/deadline, job lock released', async () => {
    const h = await harness([jobConfig('j', { overlap: 'queue', deadlineMs: 30_000, seats: { name: 'gpu', count: 1 } })], { now: T0 });
    const foreign = new FakeBackend({ store: h.store });
    assert.ok(await foreign.tryAcquireSeat('gpu', 1));
    await h.scheduler.start();
    await h.clock.advanceTo(M(1) + 30_000);
    await h.scheduler.idle();
    assert.deepEqual([h.record('j', M(1))?.outcome, h.record('j', M(1))?.reason], ['missed', 'deadline']);
    assert.equal(h.store.holder('j'), null);
    assert.equal(h.runner.attempts.length, 0);
  });

  it('losing the seat kills the run; the outcome is still recorded and the lock released', async () => {
    const h = await harness([jobConfig('j', { seats: GPU })], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    assert.equal(h.runner.live().length, 1);
    h.backend.expire(h.store.seats.holders('gpu')[0]!);
    await h.scheduler.idle();
    assert.equal(h.runner.attempts[0]?.result?.outcome, 'killed');
    assert.equal(h.record('j', M(1))?.outcome, 'killed');
    assert.equal(h.store.holder('j'), null);
  });

  it('a lapsed seat at the start -> the child is not started', async () => {
    const h = await harness([jobConfig('j', { seats: GPU })], { now: T0, auto: 'success' });
    h.backend.after('tryAcquireSeat', () => {
      const seat = h.store.seats.holders('gpu')[0];
      if (seat) h.backend.lapse(seat);
    });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 0);
    assert.equal(h.record('j', M(1))?.outcome, 'missed');
    assert.equal(h.store.seats.holders('gpu').length, 0);
  });
});
