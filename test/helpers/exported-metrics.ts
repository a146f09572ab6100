import { LockdMetrics } from '../../src/observe/metrics.js';

/**
 * The sample names (histograms as `_bucket`, `_sum`, `_count`) a running lockd exports: a real
 * `LockdMetrics`, process metrics included, scraped after its scheduler hooks saw every kind of
 * event, so the per-job families, which appear with their first event, are there too.
 */
export async function exportedMetricNames(): Promise<Set<string>> {
  const metrics = new LockdMetrics();
  const events = metrics.schedulerEvents();
  events.lockAcquired?.('report', 3, true);
  events.runStarted?.('report', 'report:1', 12);
  events.runFinished?.('report', 'success', 900);
  events.runFinished?.('report', 'failed', 300);
  events.lockReleased?.('report', 950);
  events.slotMissed?.('report', 'no_leader');
  events.slotSkipped?.('report', 'overlap');
  // Labelled counters have series only once counted: a clock step, as the daemon counts one.
  metrics.clockSteps.inc({ direction: 'forward' }, 3600);
  let text = '';
  for await (const chunk of metrics.scrape()) text += chunk;
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
    if (name !== undefined) names.add(name);
  }
  return names;
}
