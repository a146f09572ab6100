import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { exportedMetricNames } from '../helpers/exported-metrics.js';
import { promqlMetricNames } from '../helpers/promql-names.js';
import { requireBinary } from '../helpers/require-binary.js';

const PROMTOOL = '/usr/bin/promtool';
const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/prometheus');

function promtool(...args: string[]): { status: number | null; output: string } {
  requireBinary(PROMTOOL, 'prometheus');
  const run = spawnSync(PROMTOOL, args, { cwd: dir, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('examples/prometheus', () => {
  it('the alert rules pass `promtool check rules`', () => {
    const check = promtool('check', 'rules', 'lockd-alerts.yaml');
    assert.equal(check.status, 0, check.output);
  });

  it('every alert fires on its synthetic series, and only there (`promtool test rules`)', { timeout: 120_000 }, () => {
    const test = promtool('test', 'rules', 'lockd-alerts.test.yaml');
    assert.equal(test.status, 0, test.output);
  });

  it('every alert has a test', () => {
    const rules = parse(readFileSync(path.join(dir, 'lockd-alerts.yaml'), 'utf8')) as { groups: { rules: { alert: string }[] }[] };
    const tests = parse(readFileSync(path.join(dir, 'lockd-alerts.test.yaml'), 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
    const tested = new Set(tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    assert.deepEqual(rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a) => !tested.has(a)), []);
  });

  it('the rules read only metrics a running lockd exports', async () => {
    const exported = await exportedMetricNames();
    const rules = parse(readFileSync(path.join(dir, 'lockd-alerts.yaml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      const names = promqlMetricNames(rule.expr);
      assert.ok(names.length > 0, `${rule.alert}: no metric found in ${rule.expr}`);
      for (const name of names) assert.ok(exported.has(name), `${rule.alert}: ${name} is not exported by lockd`);
    }
  });

  it('the example scrape config passes `promtool check config`', () => {
    const check = promtool('check', 'config', 'prometheus.yml');
    assert.equal(check.status, 0, check.output);
  });
});
