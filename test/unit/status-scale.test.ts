import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderStatus } from '../../src/cli/render-status.js';
import type { JobConfig, LockdConfig } from '../../src/config/types.js';
import { collectStatus } from '../../src/observe/status-snapshot.js';
import { jobStateKey, runKey, type RunRecord } from '../../src/scheduler/records.js';
import { FakeBackend, FakeStore } from '../helpers/fake-backend.js';
import { jobConfig } from '../helpers/scheduler-harness.js';

const JOBS = 10_000;
/**
 * A guard against the designs that are slow (a backend call or a cron parse per job took 2–110 s),
 * not a measurement: the ≤ 300 ms figure is measured without other test files sharing the cores
 * (the diagnostics below print it).
 */
const MAX_MS = 1500;
const DAY = 86_400_000;
const now = Date.parse('2026-11-29T10:00:30.000Z');

/**
 * 10,000 jobs as a generated fleet has them: schedules repeat (32 expressions in 3 zones, 96
 * distinct pairs; `next` costs cron-parser ~0.1 ms per distinct pair). Three run records each; the
 * newest failed for every 100th job, missed for 50 jobs, running for 34; 20 never ran.
 */
function fleet(): { config: LockdConfig; backend: FakeBackend } {
  const expressions = ['*/5 * * * *', '0 * * * *', ...Array.from({ length: 30 }, (_, m) => `${m * 2} 2 * * *`)];
  const zones = ['UTC', 'Europe/Berlin', 'America/New_York'];
  const store = new FakeStore();
  const jobs: JobConfig[] = [];
  for (let i = 0; i < JOBS; i++) {
    const job = jobConfig(`job-${i}`, { schedule: expressions[i % expressions.length]!, timezone: zones[Math.floor(i / 32) % 3]! });
    jobs.push(job);
    if (i % 500 === 3) continue;
    const newest = i % 100 === 0 ? 'failed' : i % 200 === 1 ? 'missed' : i % 300 === 2 ? 'running' : 'success';
    for (let k = 3; k >= 1; k--) {
      const slot = now - k * DAY;
      const outcome = k === 1 ? newest : 'success';
      const record: RunRecord = {
        job: job.name,
        slot,
        runId: `${job.name}:${slot}`,
        scheduledAt: new Date(slot).toISOString(),
        node: 'web-1',
        leaderToken: '7',
        outcome,
        attempt: outcome === 'missed' ? 0 : 1,
        ...(outcome === 'missed' ? { reason: 'no_leader' } : { token: String(100 + k), durationMs: 1_200, output: 'done\n' }),
      };
      store.kv.set(runKey(job.name, slot), JSON.stringify(record));
    }
    store.kv.set(jobStateKey(job.name), JSON.stringify({ lastSlot: now - DAY, lastRunId: `${job.name}:${now - DAY}`, missedTotal: newest === 'missed' ? 1 : 0, updatedAt: new Date(now - DAY).toISOString() }));
  }
  const config: LockdConfig = { file: '/etc/lockd.yaml', cluster: 'fleet', node: 'cli', backend: { type: 'embedded', path: 'x.db' }, leader: { ttlMs: 10_000, maxClockSkewMs: 5000 }, shutdownGraceMs: 30_000, log: { level: 'info' }, storage: { budgetBytes: 1024 ** 3, estimateBytes: 0 }, jobs };
  return { config, backend: new FakeBackend({ store }) };
}

describe('lockd status with 10,000 jobs', { timeout: 900_000 }, () => {
  it('reads and renders quickly: a summary, then at most ~30 job rows', async (t) => {
    const { config, backend } = fleet();
    await backend.campaign({ node: 'web-1', host: 'host-a', pid: 42, since: new Date(now - DAY).toISOString() });
    // Best of up to five rounds: other test runs share the two cores; a design that is slow (a
    // backend scan per job, cron-parser per job, 10,000 rows) is slow in every round.
    let best = Infinity;
    let text = '';
    for (let round = 0; round < 5 && best > MAX_MS; round++) {
      const started = performance.now();
      const snapshot = await collectStatus(backend, config, now);
      text = renderStatus(snapshot, now, false);
      const ms = performance.now() - started;
      t.diagnostic(`round ${round + 1}: ${ms.toFixed(0)} ms, ${text.split('\n').length} lines`);
      best = Math.min(best, ms);
    }
    assert.ok(best <= MAX_MS, `status took ${best.toFixed(0)} ms at best`);
    const lines = text.split('\n');
    assert.ok(lines.some((l) => /^jobs +10000: 9796 ok, 100 failing, 50 missed, 34 running, 20 never run$/.test(l)), text.slice(0, 2000));
    const rows = lines.filter((l) => /^job-\d+ /.test(l));
    assert.ok(rows.length > 0 && rows.length <= 30, `${rows.length} job rows`);
    assert.match(text, /^… 164 more need attention: use --all, or --job GLOB$/m);
  });
});
