import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackendUnavailableError } from '../../src/errors.js';
import { FakeStore } from '../helpers/fake-backend.js';
import { queueCalls } from '../helpers/queued-server.js';
import { harness, jobConfig, seedState } from '../helpers/scheduler-harness.js';
import type { RunRecord } from '../../src/scheduler/records.js';

const T0 = Date.parse('2026-05-04T10:30:00.000Z');
const LAST = Date.parse('2026-05-04T10:00:00.000Z');
const NEXT = Date.parse('2026-05-04T11:00:00.000Z');
const JOBS = 10_000;
/** Jobs a previous leader knew (state stored), of which the first ORPHANS left a run `running`. */
const KNOWN = 9_000;
const ORPHANS = 100;

describe('start-up at 10,000 jobs', () => {
  it('reads in bulk and a few calls at a time, so no call waits past its deadline, and arms every job', async () => {
    const store = new FakeStore();
    const jobs = Array.from({ length: JOBS }, (_, i) => jobConfig(`j${i}`, { schedule: '0 * * * *' }));
    for (let i = 0; i < KNOWN; i++) seedState(store, `j${i}`, { lastSlot: LAST });
    for (let i = 0; i < ORPHANS; i++) {
      const orphan: RunRecord = { job: `j${i}`, slot: LAST, runId: `j${i}:${LAST}`, scheduledAt: new Date(LAST).toISOString(), node: 'old', token: '0', leaderToken: '0', outcome: 'running', attempt: 1 };
      store.kv.set(`runs/j${i}/${LAST}`, JSON.stringify(orphan));
    }
    const h = await harness(jobs, { now: T0, store, auto: 'success' });
    // One server, 0.1 ms a call, 100 ms deadline: 10,000 calls at once cannot all make it.
    const server = queueCalls(h.backend, { serviceMs: 0.1, deadlineMs: 100 });

    await h.scheduler.start();
    assert.ok(h.logs.some((l) => l.msg === 'scheduling started'));
    assert.deepEqual(
      h.backend.callsOf('get').filter(([key]) => String(key).startsWith('jobs/')),
      [],
      'job states come from one prefix read',
    );
    assert.deepEqual(
      h.backend.callsOf('guardedPut').filter(([, key]) => String(key).startsWith('jobs/')),
      [],
      'no baseline is written on its own',
    );
    const batches = h.backend.callsOf('guardedPutAll').map(([, entries]) => (entries as unknown[]).length);
    assert.deepEqual(batches, Array.from({ length: (JOBS - KNOWN) / 100 }, () => 100), 'the baselines of the 1,000 new jobs in 10 transactions of 100');
    await h.scheduler.idle();
    assert.equal(server.expired, 0, 'no call waited past its deadline');
    for (let i = 0; i < ORPHANS; i++) assert.equal(h.record(`j${i}`, LAST)?.outcome, 'unknown');
    for (let i = KNOWN; i < JOBS; i++) assert.equal(h.state(`j${i}`)?.lastSlot, T0, `baseline of j${i}`);

    // Every job is armed: each runs its next slot.
    server.enabled = false;
    await h.clock.advanceTo(NEXT);
    await h.scheduler.idle();
    const ran = new Set(h.runner.attempts.map((a) => a.request.job.name));
    assert.equal(ran.size, JOBS);
  });

  it('a start whose reads time out retries them, with backoff, instead of failing', async () => {
    const store = new FakeStore();
    seedState(store, 'a', { lastSlot: LAST });
    const h = await harness([jobConfig('a', { schedule: '0 * * * *' }), jobConfig('b', { schedule: '0 * * * *' })], { now: T0, store });
    h.backend.before('list', (args) => {
      if (args[0] === 'jobs/') throw new BackendUnavailableError('list: deadline exceeded');
    });
    let failGets = 1;
    let failed!: () => void;
    const getFailed = new Promise<void>((resolve) => (failed = resolve));
    h.backend.before('get', () => {
      if (failGets-- <= 0) return;
      failed();
      throw new BackendUnavailableError('get: deadline exceeded');
    });
    let started = false;
    const starting = h.scheduler.start().then(() => (started = true));
    await getFailed;
    await h.clock.advance(99);
    assert.equal(started, false, 'waits out the backoff');
    await h.clock.advance(1);
    await starting;
    assert.equal(h.state('a')?.lastSlot, LAST);
    assert.equal(h.state('b')?.lastSlot, T0);
    assert.ok(h.logs.some((l) => l.msg === 'reading job state failed; retrying'));
  });

  it('a baseline write that times out is retried, with backoff, instead of failing the start', async () => {
    const h = await harness([jobConfig('a', { schedule: '0 * * * *' }), jobConfig('b', { schedule: '0 * * * *' })], { now: T0 });
    let failed!: () => void;
    const writeFailed = new Promise<void>((resolve) => (failed = resolve));
    let failures = 1;
    h.backend.before('guardedPutAll', () => {
      if (failures-- <= 0) return;
      failed();
      throw new BackendUnavailableError('txn: deadline exceeded');
    });
    let started = false;
    const starting = h.scheduler.start().then(() => (started = true));
    await writeFailed;
    await h.clock.advance(99);
    assert.equal(started, false, 'waits out the backoff, scheduling nothing yet');
    await h.clock.advance(1);
    await starting;
    assert.equal(h.state('a')?.lastSlot, T0);
    assert.equal(h.state('b')?.lastSlot, T0);
    assert.equal(h.backend.callsOf('guardedPutAll').length, 2, 'one batch, sent twice');
    assert.ok(h.logs.some((l) => l.msg === 'writing baseline job states failed; retrying'));
  });

  it('a start whose lease goes before the baselines are written rejects with LeadershipLostError and arms nothing', async () => {
    const h = await harness([jobConfig('a', { schedule: '0 * * * *' })], { now: T0, auto: 'success' });
    h.backend.before('guardedPutAll', () => {
      h.backend.expire(h.leader);
    });
    await assert.rejects(h.scheduler.start(), { name: 'LeadershipLostError' });
    assert.equal(h.state('a'), undefined);
    assert.ok(!h.logs.some((l) => l.msg === 'scheduling started'));
    await h.clock.advanceTo(NEXT);
    await h.scheduler.idle();
    assert.equal(h.runner.attempts.length, 0, 'nothing was armed');
  });

  it('a start whose lease goes while retrying rejects with LeadershipLostError', async () => {
    const h = await harness([jobConfig('a')], { now: T0 });
    h.backend.before('list', () => {
      throw new BackendUnavailableError('list: deadline exceeded');
    });
    h.backend.before('get', () => {
      throw new BackendUnavailableError('get: deadline exceeded');
    });
    const starting = h.scheduler.start();
    const rejected = assert.rejects(starting, { name: 'LeadershipLostError' });
    await h.clock.advance(100);
    h.backend.expire(h.leader);
    await rejected;
    assert.equal(h.backend.callsOf('guardedPut').length, 0);
  });
});
