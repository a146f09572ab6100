import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { exportedMetricNames } from '../helpers/exported-metrics.js';
import { promqlMetricNames } from '../helpers/promql-names.js';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/grafana/lockd-dashboard.json');

interface Panel {
  title: string;
  targets?: { expr: string }[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; query: string | { query: string } }[] };
}

/** Every query of the dashboard with where it is: panel targets and templating variables. */
function queries(dashboard: Dashboard): { where: string; expr: string }[] {
  const out = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
  for (const v of dashboard.templating.list) {
    if (typeof v.query === 'object') out.push({ where: `variable ${v.name}`, expr: v.query.query });
  }
  return out;
}

describe('examples/grafana/lockd-dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as Dashboard;

  it('names only metrics a running lockd exports', async () => {
    const exported = await exportedMetricNames();
    for (const { where, expr } of queries(dashboard)) {
      const names = promqlMetricNames(expr);
      assert.ok(names.length > 0, `${where}: no metric found in ${expr}`);
      for (const name of names) {
        assert.ok(name.startsWith('lockd_') && exported.has(name), `${where}: ${name} is not a metric lockd exports`);
      }
    }
  });

  it('shows leadership, runs, misses, timings, locks, lease and backend', () => {
    const used = new Set(queries(dashboard).flatMap((q) => promqlMetricNames(q.expr)));
    for (const name of [
      'lockd_is_leader',
      'lockd_leader_changes_total',
      'lockd_job_runs_total',
      'lockd_job_missed_total',
      'lockd_job_start_delay_seconds_bucket',
      'lockd_job_duration_seconds_bucket',
      'lockd_lock_acquire_seconds_bucket',
      'lockd_lock_contended_total',
      'lockd_lease_remaining_seconds',
      'lockd_lease_ttl_seconds',
      'lockd_backend_up',
    ]) {
      assert.ok(used.has(name), `no panel reads ${name}`);
    }
  });
});
