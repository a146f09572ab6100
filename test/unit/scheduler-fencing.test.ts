import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BackendUnavailableError, LeadershipLostError, LockdError } from '../../src/errors.js';
import { harness, jobConfig } from '../helpers/scheduler-harness.js';

const T0 = Date.parse('2026-05-04T10:00:30.000Z');
const M = (n: number): number => Date.parse('2026-05-04T10:00:00.000Z') + n * 60_000;

describe('fencing', () => {
  it('LOCKD_* env values are exact', async () => {
    const h = await harness([jobConfig('backup', { schedule: '0 * * * *' })], { now: T0, auto: 'success' });
    await h.scheduler.start();
    await h.clock.advanceTo(M(60));
    await h.scheduler.idle();
    const lockToken = h.record('backup', M(60))?.token;
    assert.ok(lockToken);
    assert.deepEqual(h.runner.envs(), [
      {
        LOCKD_CLUSTER: 'c1',
        LOCKD_NODE: 'n1',
        LOCKD_JOB: 'backup',
        LOCKD_RUN_ID: `backup:${M(60)}`,
        LOCKD_SCHEDULED_AT: '2026-05-04T11:00:00.000Z',
        LOCKD_FENCING_TOKEN: lockToken,
        LOCKD_ATTEMPT: '1',
      },
    ]);
    assert.notEqual(lockToken, h.leader.token.toString(), 'the job lock token, not the leader token');
    assert.equal(h.record('backup', M(60))?.leaderToken, h.leader.token.toString());
  });

  it('the running record is written with [leader, lock] and ifAbsent before the child starts', async () => {
    const h = await harness([jobConfig('j')], { now: T0 });
    let childStartedBeforeRecord = false;
    h.backend.before('guardedPut', (args) => {
      if (String(args[1]) === `runs/j/${M(1)}` && h.runner.attempts.length > 0) childStartedBeforeRecord = true;
    });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    const first = h.backend.callsOf('guardedPut').find((c) => c[1] === `runs/j/${M(1)}`)!;
    const guards = first[0] as Array<{ name: string }>;
    assert.deepEqual(guards.map((g) => g.name), ['leader', 'j']);
    assert.deepEqual(first[3], { ifAbsent: true });
    assert.equal(JSON.parse(String(first[2])).outcome, 'running');
    assert.equal(childStartedBeforeRecord, false);
    assert.equal(h.runner.attempts.length, 1);
  });

  it('guardedPut refused (leadership gone at the backend) -> child never started, lock released', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    h.backend.before('guardedPut', (args) => {
      if (String(args[1]).startsWith('runs/')) h.store.holder('leader')?.drop(new LeadershipLostError('taken'));
    });
    await h.clock.advanceTo(M(1));
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 0);
    assert.equal(h.record('j', M(1)), undefined, 'nothing recorded: the next leader will');
    assert.equal(h.store.holder('j'), null, 'job lock released');
  });

  it('a transient write failure is settled and retried: the slot runs once, late by the retry', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    let failed = false;
    h.backend.before('guardedPut', (args) => {
      if (!failed && String(args[1]) === `runs/j/${M(1)}`) {
        failed = true;
        throw new BackendUnavailableError('blip');
      }
    });
    await h.clock.advanceTo(M(1) + 1000);
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 1);
    assert.equal(h.record('j', M(1))?.outcome, 'success');
  });

  it('a record write applied whose reply was lost: read back as ours, the slot runs once (not `running` forever)', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    let lost = false;
    h.backend.after('guardedPut', (args) => {
      if (!lost && String(args[1]) === `runs/j/${M(1)}`) {
        lost = true;
        throw new BackendUnavailableError('connection dropped after sending');
      }
    });
    await h.clock.advanceTo(M(1) + 1000);
    await h.scheduler.idle();
    assert.equal(lost, true);
    assert.equal(h.runner.attempts.length, 1, 'the applied write is ours: the slot runs');
    assert.equal(h.record('j', M(1))?.outcome, 'success');
  });

  it('a write whose reply was lost while leadership went: never started, left for the next leader', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    h.backend.after('guardedPut', (args) => {
      if (String(args[1]) === `runs/j/${M(1)}`) {
        h.backend.lapse(h.leader);
        throw new BackendUnavailableError('timeout');
      }
    });
    await h.clock.advanceTo(M(1) + 1000);
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 0);
    assert.equal(h.backend.json<{ lastSlot: number }>('jobs/j')?.lastSlot, T0, 'lastSlot did not move over the unsettled slot');
  });

  it('lease invalid at the synchronous check (deadline passed, abort not yet run) -> never started', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    h.backend.after('guardedPut', (args) => {
      if (String(args[1]) === `runs/j/${M(1)}`) h.backend.lapse(h.leader);
    });
    await h.clock.advanceTo(M(1));
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 0);
    assert.equal(h.leader.signal.aborted, false, 'the abort had not happened: only the sync check stopped it');
    assert.deepEqual([h.record('j', M(1))?.outcome, h.record('j', M(1))?.reason], ['missed', 'leadership_lost']);
    assert.deepEqual(h.events.filter((e) => e[0] === 'slotMissed'), [['slotMissed', 'j', 'leadership_lost']]);
  });

  it('job lock invalid at the synchronous check -> never started', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    h.backend.after('guardedPut', (args) => {
      if (String(args[1]) === `runs/j/${M(1)}`) {
        const lock = h.store.holder('j');
        if (lock) h.backend.lapse(lock);
      }
    });
    await h.clock.advanceTo(M(1));
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 0);
  });

  it('a slot whose record already exists is not run again', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    const existing = JSON.stringify({ job: 'j', slot: M(1), outcome: 'success', node: 'other' });
    h.store.kv.set(`runs/j/${M(1)}`, existing);
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 0);
    assert.equal(h.store.kv.get(`runs/j/${M(1)}`), existing);
    assert.equal(h.store.holder('j'), null);
    await h.clock.advanceTo(M(2));
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 1);
  });

  it('tokens strictly increase across runs', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    await h.clock.advanceTo(M(6));
    await h.scheduler.idle();
    const tokens = h.runner.envs().map((e) => BigInt(e.LOCKD_FENCING_TOKEN!));
    assert.equal(tokens.length, 6);
    for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `${tokens[i]} > ${tokens[i - 1]}`);
  });

  it('retries reuse the slot record: LOCKD_ATTEMPT 1, 2, 3 after the backoff', async () => {
    const h = await harness([jobConfig('j', { retries: 2, retryBackoffMs: 5_000 })], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    h.runner.finish('failed');
    await h.clock.advance(4_999);
    assert.equal(h.runner.attempts.length, 1, 'waits the backoff');
    await h.clock.advance(1);
    assert.equal(h.record('j', M(1))?.attempt, 2);
    h.runner.finish('timeout');
    await h.clock.advance(5_000);
    h.runner.finish('success');
    await h.scheduler.idle();
    assert.deepEqual(h.runner.envs().map((e) => e.LOCKD_ATTEMPT), ['1', '2', '3']);
    assert.deepEqual(new Set(h.runner.envs().map((e) => e.LOCKD_RUN_ID)).size, 1);
    assert.deepEqual(new Set(h.runner.envs().map((e) => e.LOCKD_FENCING_TOKEN)).size, 1);
    const rec = h.record('j', M(1))!;
    assert.deepEqual([rec.outcome, rec.attempt], ['success', 3]);
    assert.equal(h.records('j').length, 1);
    assert.equal(rec.durationMs, 10_000);
  });

  it('retries exhausted -> the last failure is the outcome', async () => {
    const h = await harness([jobConfig('j', { retries: 1, retryBackoffMs: 1_000 })], { now: T0, auto: 'failed' });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1) + 1_000);
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 2);
    assert.deepEqual([h.record('j', M(1))?.outcome, h.record('j', M(1))?.attempt], ['failed', 2]);
    assert.deepEqual(h.events.filter((e) => e[0] === 'runFinished').map((e) => e[2]), ['failed']);
  });

  it('lock lost mid-run -> the child is killed and no retry starts', async () => {
    const h = await harness([jobConfig('j', { retries: 3 })], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    h.backend.expire(h.store.holder('j')!);
    await h.clock.advance(30_000);
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 1, 'no retry after the backoff (1s)');
    assert.equal(h.runner.attempts[0]?.result?.outcome, 'killed');
    assert.equal(h.record('j', M(1))?.outcome, 'killed', 'recorded under the leader alone');
  });

  it('killAll kills running children and resolves when they ended', async () => {
    const h = await harness([jobConfig('a'), jobConfig('b')], { now: T0 });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    assert.deepEqual(h.scheduler.running().map((r) => r.job).sort(), ['a', 'b']);
    await h.scheduler.killAll(new LockdError('LEASE_LOST', 'gone'));
    assert.deepEqual(h.scheduler.running(), []);
    assert.deepEqual(h.runner.attempts.map((a) => a.result?.outcome), ['killed', 'killed']);
    assert.equal(h.record('a', M(1))?.outcome, 'killed');
  });

  it('a resign (leadershipSignal not aborted) lets the run drain under its lock and record its outcome', async () => {
    const leadership = new AbortController();
    const h = await harness([jobConfig('j')], { now: T0, withLeadershipSignal: leadership.signal });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1));
    h.scheduler.stopScheduling();
    await h.leader.release();
    assert.equal(h.runner.live().length, 1, 'child still running after the resign');
    h.runner.finish('success');
    await h.scheduler.idle();
    assert.equal(h.record('j', M(1))?.outcome, 'success');
    assert.equal(h.store.holder('j'), null);
  });
});
