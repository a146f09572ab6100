import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeBackend, FakeStore } from '../helpers/fake-backend.js';
import { harness, jobConfig } from '../helpers/scheduler-harness.js';
import type { RunRecord } from '../../src/scheduler/records.js';

const T0 = Date.parse('2026-05-04T10:00:30.000Z');
const slot = Date.parse('2026-05-04T09:59:00.000Z');
const orphan: RunRecord = { job: 'j', slot, runId: `j:${slot}`, scheduledAt: new Date(slot).toISOString(), node: 'old', token: '0', leaderToken: '0', outcome: 'running', attempt: 1 };

describe('runs left running by an earlier leader', () => {
  it('are recorded unknown / leadership_lost when nobody holds the job lock', async () => {
    const store = new FakeStore();
    store.kv.set(`runs/j/${slot}`, JSON.stringify(orphan));
    const h = await harness([jobConfig('j')], { now: T0, store });
    await h.scheduler.start();
    await h.scheduler.idle();
    const settled = h.record('j', slot);
    assert.equal(settled?.outcome, 'unknown');
    assert.equal(settled?.reason, 'leadership_lost');
    assert.equal(settled?.node, 'old');
    assert.equal(store.holder('j'), null, 'the probe released the job lock');
  });

  it('are left alone while the job lock is held (an earlier leader still draining that run)', async () => {
    const store = new FakeStore();
    store.kv.set(`runs/j/${slot}`, JSON.stringify(orphan));
    const draining = await new FakeBackend({ store }).tryAcquire('j');
    assert.ok(draining);
    const h = await harness([jobConfig('j')], { now: T0, store });
    await h.scheduler.start();
    await h.scheduler.idle();
    assert.equal(h.record('j', slot)?.outcome, 'running');
  });

  it('an outcome recorded between the listing and the lock is kept', async () => {
    const store = new FakeStore();
    store.kv.set(`runs/j/${slot}`, JSON.stringify(orphan));
    const h = await harness([jobConfig('j')], { now: T0, store });
    const tryAcquire = h.backend.tryAcquire.bind(h.backend);
    // The earlier leader finishes its run and releases the lock just before we take it.
    h.backend.tryAcquire = async (name, opts) => {
      store.kv.set(`runs/j/${slot}`, JSON.stringify({ ...orphan, outcome: 'success' }));
      return tryAcquire(name, opts);
    };
    await h.scheduler.start();
    await h.scheduler.idle();
    assert.equal(h.record('j', slot)?.outcome, 'success');
  });

  it('records of the current term are not touched', async () => {
    const store = new FakeStore();
    const h = await harness([jobConfig('j')], { now: T0, store });
    store.kv.set(`runs/j/${slot}`, JSON.stringify({ ...orphan, leaderToken: h.leader.token.toString() }));
    await h.scheduler.start();
    await h.scheduler.idle();
    assert.equal(h.record('j', slot)?.outcome, 'running');
  });
});
