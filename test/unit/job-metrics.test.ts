import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LockdMetrics } from '../../src/observe/metrics.js';

async function scrapeText(metrics: LockdMetrics): Promise<string> {
  let text = '';
  for await (const chunk of metrics.scrape()) text += chunk;
  return text;
}

describe('per-job metrics', () => {
  it('counts runs, misses and contention per job; the last success time comes from the clock', async () => {
    let now = 1_764_000_000_000;
    const metrics = new LockdMetrics({ processMetrics: false, now: () => now });
    const events = metrics.schedulerEvents();
    events.runStarted?.('report', 'report:1', 40);
    events.runFinished?.('report', 'success', 2_000);
    now += 60_000;
    events.runFinished?.('report', 'failed', 500);
    events.slotMissed?.('report', 'no_leader');
    events.slotSkipped?.('tick', 'overlap');
    events.slotSkipped?.('tick', 'seats_full');
    events.lockAcquired?.('tick', 5, true);
    events.lockAcquired?.('report', 1, false);
    const text = await scrapeText(metrics);
    const samples = text.split('\n').filter((l) => /^lockd_(job|lock)_/.test(l));
    assert.deepEqual(samples.filter((l) => !/_(bucket|sum|count)[{ ]/.test(l)), [
      'lockd_job_runs_total{job="report",outcome="success"} 1',
      'lockd_job_runs_total{job="report",outcome="failed"} 1',
      'lockd_job_runs_total{job="report",outcome="missed"} 1',
      'lockd_job_runs_total{job="tick",outcome="skipped"} 2',
      'lockd_job_missed_total{job="report",reason="no_leader"} 1',
      'lockd_lock_contended_total{lock="tick"} 1',
      'lockd_job_last_success_timestamp_seconds{job="report"} 1764000000',
    ]);
    assert.match(text, /^lockd_job_duration_seconds_count 2$/m);
    assert.match(text, /^lockd_job_start_delay_seconds_sum 0\.04$/m);
    assert.match(text, /^lockd_lock_acquire_seconds_count 2$/m);
  });

  it('exports the storage estimate and budget of the running config', async () => {
    const metrics = new LockdMetrics({ processMetrics: false });
    metrics.bindStorage(() => ({ budgetBytes: 512 * 1024 ** 2, estimateBytes: 123_456 }));
    const text = await scrapeText(metrics);
    assert.match(text, /^lockd_storage_estimate_bytes 123456$/m);
    assert.match(text, /^lockd_storage_budget_bytes 536870912$/m);
  });

  it('counts the backend data losses the backend detected (lockd_backend_data_loss_total)', async () => {
    const metrics = new LockdMetrics({ processMetrics: false });
    let detected = 0;
    metrics.bindHealth(() => ({ up: true, dataLossesDetected: detected }));
    assert.match(await scrapeText(metrics), /^lockd_backend_data_loss_total 0$/m);
    detected = 2;
    assert.match(await scrapeText(metrics), /^lockd_backend_data_loss_total 2$/m);
    assert.match(await scrapeText(metrics), /^lockd_backend_data_loss_total 2$/m);
  });

  it('escapes label values, and names every family once even before it has samples', async () => {
    const metrics = new LockdMetrics({ processMetrics: false });
    metrics.schedulerEvents().slotMissed?.('job', 'backend said "no"\\n\nagain');
    const text = await scrapeText(metrics);
    assert.match(text, /^lockd_job_missed_total\{job="job",reason="backend said \\"no\\"\\\\n\\nagain"\} 1$/m);
    for (const family of ['lockd_job_runs_total', 'lockd_job_missed_total', 'lockd_lock_contended_total', 'lockd_job_last_success_timestamp_seconds']) {
      assert.equal(text.split('\n').filter((l) => l === `# TYPE ${family} ${family.endsWith('_total') ? 'counter' : 'gauge'}`).length, 1, family);
    }
  });
});
