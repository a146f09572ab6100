import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fencingWindow } from '../../src/election/fencing-window.js';
import { withLongestStall } from '../helpers/loop-stall.js';
import { queueCalls } from '../helpers/queued-server.js';
import { harness, jobConfig } from '../helpers/scheduler-harness.js';

const T0 = Date.parse('2026-05-04T10:30:00.000Z');
const NEXT = Date.parse('2026-05-04T11:00:00.000Z');
const JOBS = 10_000;
/** The longest stretch lockd's own work may hold the loop: a quarter of the margin at etcd TTL 2 s. */
const QUARTER_MARGIN_MS = fencingWindow('etcd', 2000).marginMs / 4;

// A file of its own: a test process that has just run another 10,000-job test is still
// collecting its garbage, which would be measured here.
describe('a reload (setJobs) at 10,000 jobs', { timeout: 120_000 }, () => {
  it('a reload to 10,000 jobs, every schedule changed: the loop never stalls, state reads stay bounded, every job runs its next slot', async (t) => {
    const h = await harness(Array.from({ length: 100 }, (_, i) => jobConfig(`j${i}`, { schedule: '0 * * * *' })), { now: T0, auto: 'success' });
    await h.scheduler.start();
    const server = queueCalls(h.backend, { serviceMs: 0.1, deadlineMs: 100 });
    const next = Array.from({ length: JOBS }, (_, i) => jobConfig(`j${i}`, { schedule: `${i % 30} 11 * * *` }));
    const { stallMs, longestGcMs } = await withLongestStall(async () => {
      h.scheduler.setJobs(next);
      await h.scheduler.idle();
    });
    t.diagnostic(`longest stall ${stallMs.toFixed(0)} ms (GC pauses apart, longest ${longestGcMs.toFixed(0)} ms); ${server.served} calls served`);
    assert.ok(stallMs < QUARTER_MARGIN_MS, `the loop stalled for ${stallMs.toFixed(0)} ms`);
    assert.equal(server.expired, 0, 'no state read of a new job waited past its deadline');
    server.enabled = false;
    await h.clock.advanceTo(NEXT + 30 * 60_000);
    await h.scheduler.idle();
    const ran = new Set(h.runner.attempts.map((a) => a.request.job.name));
    assert.equal(ran.size, JOBS);
    assert.ok(h.runner.attempts.every((a) => Date.parse(a.request.lockdEnv.LOCKD_SCHEDULED_AT ?? "") >= NEXT), "no slot of the old schedule ran");
  });
});
