import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { formatSize, parseSize } from '../../src/config/size.js';
import { DEFAULT_STORAGE_BUDGET, jobBytes, MIN_DEFAULT_HISTORY, recordBytes, storageWarning } from '../../src/config/storage-budget.js';
import { ConfigError } from '../../src/errors.js';
import { runKey, type RunRecord } from '../../src/scheduler/records.js';

/** A config with `count` hourly jobs named like a tenant's, and `extra` YAML per job and at the top. */
function jobs(count: number, opts: { backend?: string; top?: string; perJob?: string } = {}): string {
  const lines = [opts.backend ?? 'backend:\n  type: etcd\n  endpoints: [http://127.0.0.1:2379]', opts.top ?? '', 'jobs:'];
  for (let i = 0; i < count; i++) lines.push(`  tenant-${String(i).padStart(5, '0')}-report:`, `    schedule: "${i % 60} * * * *"`, '    run: ./bin/report', opts.perJob ?? '');
  return lines.filter((l) => l !== '').join('\n');
}

/** The largest record lockd writes for `job`: every field set, the output tail full of text. */
function largestRecord(job: string, tailBytes: number): RunRecord {
  const slot = 1_796_000_000_000;
  return {
    job,
    slot,
    runId: `${job}:${slot}`,
    scheduledAt: new Date(slot).toISOString(),
    node: 'web-1.eu-west-1.internal-pod-7f9c8d',
    token: '18446744073709551615',
    leaderToken: '18446744073709551615',
    outcome: 'timeout',
    reason: 'timeout after 30m; SIGTERM to the process group, SIGKILL after 5s: the group did not exit',
    attempt: 101,
    startedAt: new Date(slot + 1).toISOString(),
    endedAt: new Date(slot + 1_800_000).toISOString(),
    durationMs: 1_800_000,
    exitCode: null,
    signal: 'SIGKILL',
    // Ordinary log text: a newline and a quoted word per line, which JSON escapes.
    output: 'INFO processed 42 invoices for "tenant-9999" in 0.3 s\n'.repeat(tailBytes).slice(0, tailBytes),
  };
}

describe('sizes in the config', () => {
  it('reads binary and decimal units and bare bytes; prints binary units', () => {
    assert.equal(parseSize('512MiB'), 512 * 1024 ** 2);
    assert.equal(parseSize('1.5GiB'), 1.5 * 1024 ** 3);
    assert.equal(parseSize('4KiB'), 4096);
    assert.equal(parseSize('100KB'), 100_000);
    assert.equal(parseSize('2048'), 2048);
    assert.equal(formatSize(512 * 1024 ** 2), '512 MiB');
    assert.equal(formatSize(1.5 * 1024 ** 3), '1.5 GiB');
    assert.equal(formatSize(900), '900 B');
  });

  it('refuses an unknown unit, a fraction of a byte and a missing number, naming the text', () => {
    assert.throws(() => parseSize('4kb'), /invalid size "4kb": unknown unit "kb"/);
    assert.throws(() => parseSize('1.5'), /whole number/);
    assert.throws(() => parseSize('MiB'), /expected a number and a unit/);
  });

  it('reports a bad storage_budget or output_tail at its line and column', () => {
    const text = 'storage_budget: 12 parsecs\njobs:\n  a:\n    schedule: "@hourly"\n    run: "true"\n    output_tail: 1MiB\n';
    try {
      parseConfig(text, 'lockd.yaml', {});
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`),
        ['lockd.yaml:1:17: invalid size "12 parsecs": unknown unit "parsecs" (use B, KiB, MiB, GiB, KB, MB, GB)', 'lockd.yaml:6:18: must be at most 64 KiB, got 1 MiB'],
      );
    }
  });
});

describe('the storage budget', () => {
  it('a record is never larger than its estimate, and the estimate is not loose', () => {
    for (const tail of [0, 1024, 4096, 65_536]) {
      const name = 'tenant-09999-report';
      const record = largestRecord(name, tail);
      const stored = Buffer.byteLength(`lockd/billing/data/${runKey(name, record.slot)}`) + Buffer.byteLength(JSON.stringify(record));
      const estimate = recordBytes({ name, outputTailBytes: tail }, 'billing');
      assert.ok(stored <= estimate, `tail ${tail}: a record takes ${stored} bytes, estimated ${estimate}`);
      assert.ok(tail === 0 || estimate <= 1.5 * stored, `tail ${tail}: estimate ${estimate} is loose against ${stored}`);
    }
  });

  it('a few jobs keep 100 records each, well within the budget', () => {
    const config = parseConfig(jobs(10), 'lockd.yaml', {});
    assert.deepEqual([...new Set(config.jobs.map((j) => j.history))], [100]);
    assert.equal(config.storage.budgetBytes, DEFAULT_STORAGE_BUDGET.etcd);
    assert.ok(config.storage.estimateBytes < config.storage.budgetBytes / 50);
    assert.equal(storageWarning(config), undefined);
  });

  it('10,000 jobs at the defaults fit the default budget, a quarter of etcd\'s 2 GiB quota (100 records each would take 4.5 GB)', () => {
    const config = parseConfig(jobs(10_000), 'lockd.yaml', {});
    const history = config.jobs[0]!.history;
    assert.ok(history >= MIN_DEFAULT_HISTORY && history < 100, `history ${history}`);
    assert.ok(config.storage.estimateBytes <= config.storage.budgetBytes, `${formatSize(config.storage.estimateBytes)} over ${formatSize(config.storage.budgetBytes)}`);
    assert.ok(config.storage.budgetBytes <= (2 * 1024 ** 3) / 4);
    const atOldDefaults = 10_000 * jobBytes({ ...config.jobs[0]!, history: 100 }, config.cluster);
    assert.ok(atOldDefaults > 4e9, formatSize(atOldDefaults));
    assert.equal(storageWarning(config), undefined);
  });

  it('a larger budget, or a smaller output_tail, keeps more history by default', () => {
    const roomy = parseConfig(jobs(10_000, { top: 'storage_budget: 8GiB' }), 'lockd.yaml', {});
    assert.equal(roomy.jobs[0]!.history, 100);
    const terse = parseConfig(jobs(10_000, { perJob: '    output_tail: 256B' }), 'lockd.yaml', {});
    const defaults = parseConfig(jobs(10_000), 'lockd.yaml', {});
    assert.ok(terse.jobs[0]!.history > 2 * defaults.jobs[0]!.history, `${terse.jobs[0]!.history} vs ${defaults.jobs[0]!.history}`);
    assert.ok(terse.storage.estimateBytes <= terse.storage.budgetBytes);
  });

  it('explicit history beyond the budget: validate warns, naming the largest jobs and what to change', () => {
    const config = parseConfig(jobs(10_000, { perJob: '    history: 100' }), 'lockd.yaml', {});
    const warning = storageWarning(config);
    assert.ok(warning !== undefined);
    assert.match(warning, /^the 10000 job\(s\) may keep \d\.\d GiB in the backend, over the 512 MiB storage_budget; etcd refuses every write once its database reaches its quota \(2 GiB by default\)\. /);
    assert.match(warning, /Largest: tenant-\d{5}-report \(100 records of up to \d\.\d KiB\), /);
    assert.match(warning, /Lower history or output_tail, or raise storage_budget$/);
  });

  it('defaults per backend: ZooKeeper keeps the tree in every server\'s heap, so less', () => {
    const zk = parseConfig(jobs(1, { backend: 'backend:\n  type: zookeeper\n  connect: 127.0.0.1:2181' }), 'lockd.yaml', {});
    const embedded = parseConfig(jobs(1, { backend: '' }), 'lockd.yaml', {});
    assert.equal(zk.storage.budgetBytes, 256 * 1024 ** 2);
    assert.equal(embedded.storage.budgetBytes, 1024 ** 3);
  });
});
