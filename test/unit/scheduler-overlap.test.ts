import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeBackend } from '../helpers/fake-backend.js';
import { harness, jobConfig } from '../helpers/scheduler-harness.js';

const T0 = Date.parse('2026-05-04T10:00:30.000Z');
const M = (n: number): number => Date.parse('2026-05-04T10:00:00.000Z') + n * 60_000;

describe('overlap: skip', () => {
  it('running locally -> skipped/overlap, without a lock call', async () => {
    const h = await harness([jobConfig('j')], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    assert.equal(h.runner.live().length, 1);
    const lockCalls = h.backend.callsOf('tryAcquire').length;
    await h.clock.advanceTo(M(2));
    assert.equal(h.backend.callsOf('tryAcquire').length, lockCalls);
    assert.equal(h.runner.attempts.length, 1);
    assert.deepEqual([h.record('j', M(2))?.outcome, h.record('j', M(2))?.reason], ['skipped', 'overlap']);
    assert.deepEqual(h.events.filter((e) => e[0] === 'slotSkipped'), [['slotSkipped', 'j', 'overlap']]);
    const warn = h.logs.find((l) => l.level === 40 && l.run_id === `j:${M(2)}`);
    assert.equal(warn?.reason, 'overlap');
    h.runner.finish('success');
    await h.scheduler.idle();
    assert.equal(h.record('j', M(1))?.outcome, 'success');
    assert.equal(h.state('j')?.lastSlot, M(2));
  });

  it('lock held elsewhere (another client) -> skipped/lock_held, nothing started', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    const foreign = new FakeBackend({ store: h.store });
    const held = await foreign.tryAcquire('j');
    assert.ok(held);
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 0);
    assert.deepEqual([h.record('j', M(1))?.outcome, h.record('j', M(1))?.reason], ['skipped', 'lock_held']);
    await held.release();
    await h.clock.advanceTo(M(2));
    await h.scheduler.idle();
    assert.equal(h.record('j', M(2))?.outcome, 'success');
  });
});

describe('overlap: queue', () => {
  it('waits for the previous run, then runs the slot with a greater token', async () => {
    const h = await harness([jobConfig('j', { overlap: 'queue' })], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    await h.clock.advanceTo(M(2));
    assert.equal(h.runner.attempts.length, 1, 'second slot waits');
    assert.equal(h.record('j', M(2)), undefined);
    h.runner.finish('success');
    await h.clock.advance(0);
    assert.equal(h.runner.live().length, 1);
    const [first, second] = h.runner.envs();
    assert.equal(second?.LOCKD_SCHEDULED_AT, new Date(M(2)).toISOString());
    assert.ok(BigInt(second!.LOCKD_FENCING_TOKEN!) > BigInt(first!.LOCKD_FENCING_TOKEN!));
    h.runner.finish('success');
    await h.scheduler.idle();
    assert.deepEqual(h.records('j').map((r) => r.outcome), ['success', 'success']);
    const acquired = h.events.filter((e) => e[0] === 'lockAcquired');
    assert.deepEqual(acquired.map((e) => e[3]), [false, true], 'second acquisition was contended');
  });

  it('deadline passes while waiting -> missed/deadline, never started', async () => {
    const h = await harness([jobConfig('j', { overlap: 'queue', deadlineMs: 30_000 })], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    await h.clock.advanceTo(M(2) + 29_999);
    assert.equal(h.record('j', M(2)), undefined);
    await h.clock.advance(1);
    assert.deepEqual([h.record('j', M(2))?.outcome, h.record('j', M(2))?.reason], ['missed', 'deadline']);
    h.runner.finish('success');
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 1);
    assert.equal(h.state('j')?.missedTotal, 1);
  });

  it('waits for a lock held by another client, with the slot deadline', async () => {
    const h = await harness([jobConfig('j', { overlap: 'queue', deadlineMs: 20_000 })], { now: T0, auto: 'success' });
    const foreign = new FakeBackend({ store: h.store });
    const held = await foreign.tryAcquire('j');
    await h.scheduler.start();
    await h.clock.advanceTo(M(1) + 5_000);
    assert.equal(h.runner.attempts.length, 0);
    await held!.release();
    await h.scheduler.idle();
    assert.equal(h.record('j', M(1))?.outcome, 'success');
    assert.deepEqual(h.backend.callsOf('acquire').map((args) => args[0]), ['j'], 'fell back to a waiting acquire');
  });
});

describe('overlap: allow', () => {
  it('runs concurrently, each with a strictly greater token, lock released during the run', async () => {
    const h = await harness([jobConfig('j', { overlap: 'allow' })], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(3));
    assert.equal(h.runner.live().length, 3);
    const tokens = h.runner.envs().map((e) => BigInt(e.LOCKD_FENCING_TOKEN!));
    assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!);
    assert.equal(h.store.holder('j'), null, 'job lock not held while children run');
    assert.equal(h.scheduler.running().length, 3);
    h.runner.finish('success');
    h.runner.finish('failed');
    h.runner.finish('success');
    await h.scheduler.idle();
    assert.deepEqual(h.records('j').map((r) => r.outcome), ['success', 'failed', 'success']);
    assert.deepEqual(h.records('j').map((r) => r.token), tokens.map(String));
  });

  it('child is bound to the leader: leadership loss kills it', async () => {
    const h = await harness([jobConfig('j', { overlap: 'allow' })], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    h.backend.expire(h.leader);
    await h.scheduler.idle();
    assert.equal(h.runner.attempts[0]?.result?.outcome, 'killed');
  });
});
