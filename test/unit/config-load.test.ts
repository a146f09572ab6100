import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { storageEstimate } from '../../src/config/storage-budget.js';
import type { LockdConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/config/${name}`, import.meta.url));

/** The problems of the ConfigError `fn` throws, as `LINE:COL: message`, checking each names `file`. */
async function problemsOf(fn: () => unknown, file: string): Promise<string[]> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'CONFIG_INVALID');
    for (const p of err.problems) assert.equal(p.file, file);
    return err.problems.map((p) => `${p.line}:${p.col}: ${p.message}`);
  }
  assert.fail('expected a ConfigError');
}

const job = (text: string): string => `jobs:\n  j:\n${text.replace(/^/gm, '    ')}\n`;

describe('loadConfig', () => {
  it('reports every mistake in a file, in file order, with line:col', async () => {
    const file = fixture('many-mistakes.yaml');
    assert.deepEqual(await problemsOf(() => loadConfig(file, {}), file), [
      '2:1: unknown key "colour"',
      '9:5: unknown key "timout"; did you mean "timeout"?',
      '11:15: bad cron expression "61 * * * *": Constraint error, got value 61 expected range 0-59',
      '14:15: bad cron expression "0 0 2 * * * 2025": 7 fields; expected 5 (minute hour day-of-month month ' +
        'day-of-week) or 6 (with seconds first)',
      '18:15: unknown time zone "Mars/Base"',
      '23:14: expected a duration like "10s", got 12',
      '24:17: invalid duration "5sec": unknown unit "sec" (use ms, s, m or h, e.g. "1h30m")',
      '25:3: job "both": set either run or command, not both',
      '29:3: job "neither": one of run or command is required',
      '31:14: expected an integer, got "two"',
      '35:5: duplicate key "run"',
    ]);
  });

  it('reads every key of a full file', async () => {
    const file = fixture('full.yaml');
    const expected: LockdConfig = {
      file,
      cluster: 'payments.eu-1',
      node: 'web-1',
      backend: {
        type: 'etcd',
        endpoints: ['http://10.0.0.1:2379', 'https://etcd-2.internal:2379'],
        username: 'lockd',
        password: 's3cret',
        tls: { ca: '/etc/lockd/ca.pem', cert: '/etc/lockd/client.pem', key: '/etc/lockd/client-key.pem' },
      },
      leader: { ttlMs: 15_000, maxClockSkewMs: 5000 },
      shutdownGraceMs: 90_000,
      http: { listen: '[::1]:9464' },
      log: { level: 'warn' },
      storage: { budgetBytes: 64 * 1024 ** 2, estimateBytes: 0 },
      jobs: [
        {
          name: 'report',
          schedule: '0 2 * * *',
          timezone: 'Europe/Berlin',
          run: './bin/report --daily --since "$LAST_RUN" $HOME',
          timeoutMs: 1_800_000,
          overlap: 'queue',
          misfire: 'run_all',
          deadlineMs: 3_600_000,
          retries: 2,
          retryBackoffMs: 30_000,
          killGraceMs: 2_500,
          jitterMs: 500,
          history: 20,
          outputTailBytes: 1024,
          env: { REPORT_BUCKET: 's3://reports/eu', RATIO: '1.10', DRY_RUN: 'false' },
          cwd: '/srv/app',
        },
        {
          name: 'cleanup',
          schedule: '30 */10 * * * *',
          timezone: 'UTC',
          command: ['find', '/tmp/app', '-mmin', '+60', '-delete'],
          overlap: 'skip',
          misfire: 'run_once',
          deadlineMs: 600_000,
          retries: 0,
          retryBackoffMs: 10_000,
          killGraceMs: 5_000,
          jitterMs: 0,
          history: 100,
          outputTailBytes: 4096,
          env: {},
        },
      ],
    };
    expected.storage.estimateBytes = storageEstimate(expected.jobs, expected.cluster);
    assert.deepEqual(await loadConfig(file, { ETCD_PASSWORD: 's3cret' }), expected);
  });

  it('fills in every default', async () => {
    const config = await loadConfig(fixture('minimal.yaml'), {});
    assert.deepEqual(config, {
      file: fixture('minimal.yaml'),
      cluster: 'default',
      node: `${hostname()}-${process.pid}`,
      backend: { type: 'embedded', path: './lockd.db' },
      leader: { ttlMs: 10_000, maxClockSkewMs: 5000 },
      shutdownGraceMs: 30_000,
      log: { level: 'info' },
      storage: { budgetBytes: 1024 ** 3, estimateBytes: storageEstimate([{ name: 'tick', history: 100, outputTailBytes: 4096 }], 'default') },
      jobs: [
        {
          name: 'tick',
          schedule: '@hourly',
          timezone: 'UTC',
          run: 'date',
          overlap: 'skip',
          misfire: 'run_once',
          deadlineMs: 600_000,
          retries: 0,
          retryBackoffMs: 10_000,
          killGraceMs: 5_000,
          jitterMs: 0,
          history: 100,
          outputTailBytes: 4096,
          env: {},
        },
      ],
    } satisfies LockdConfig);
  });

  it('reads an empty file, or one with empty sections, as all defaults and no jobs', () => {
    for (const text of ['', '# nothing yet\n', 'jobs:\n', 'jobs: {}\nbackend:\nhttp:\nlog:\n']) {
      const config = parseConfig(text, 'empty.yaml', {});
      assert.deepEqual(config.jobs, [], JSON.stringify(text));
      assert.deepEqual(config.backend, { type: 'embedded', path: './lockd.db' });
      assert.equal(config.http, undefined);
      assert.equal(config.log.level, 'info');
    }
  });

  it('names a missing or unreadable file in one problem at 1:1', async () => {
    const missing = fixture('no-such-file.yaml');
    const problems = await problemsOf(() => loadConfig(missing, {}), missing);
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /^1:1: cannot read config file: ENOENT: no such file or directory/);
    const dir = fixture('');
    assert.match((await problemsOf(() => loadConfig(dir, {}), dir)).join('\n'), /^1:1: .*EISDIR/);
  });

  it('keeps the path as given in problems and makes LockdConfig.file absolute', async () => {
    const given = relative(process.cwd(), fixture('minimal.yaml'));
    assert.equal((await loadConfig(given, {})).file, fixture('minimal.yaml'));
    assert.equal(parseConfig('', 'conf/lockd.yaml', {}).file, resolve('conf/lockd.yaml'));
    assert.deepEqual(await problemsOf(() => parseConfig('colour: 1', 'conf/lockd.yaml', {}), 'conf/lockd.yaml'), [
      '1:1: unknown key "colour"',
    ]);
  });
});

describe('schedules', () => {
  it('accepts 5 and 6 fields and the macros', () => {
    const accepted: [string, string][] = [
      ['0 2 * * *', '0 2 * * *'],
      ['*/10 0 2 * * MON-THU', '*/10 0 2 * * MON-THU'],
      ['0 0 1 JAN,JUL *', '0 0 1 JAN,JUL *'],
      ['  15 3 * * 1  ', '15 3 * * 1'],
      ['@hourly', '@hourly'],
      ['@daily', '@daily'],
      ['@midnight', '@daily'],
      ['@weekly', '@weekly'],
      ['@monthly', '@monthly'],
      ['@yearly', '@yearly'],
      ['@annually', '@annually'],
    ];
    for (const [schedule, normalized] of accepted) {
      const config = parseConfig(job(`schedule: "${schedule}"\nrun: x`), 'c.yaml', {});
      assert.equal(config.jobs[0]?.schedule, normalized);
    }
  });

  it('rejects what the scheduler could not run as written', async () => {
    const rejected: [string, string][] = [
      ['* * *', '3 fields; expected 5'],
      ['', '0 fields; expected 5'],
      ['0 0 2 * * * 2025', '7 fields; expected 5'],
      ['@reboot', 'unknown macro (use one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually)'],
      ['@DAILY', 'unknown macro'],
      ['H 2 * * *', '"H" (hashed) fields are not supported'],
      ['0 2 30 2 *', 'Invalid explicit day of month definition'],
      ['0 25 * * *', 'Constraint error, got value 25 expected range 0-23'],
    ];
    for (const [schedule, why] of rejected) {
      const problems = await problemsOf(() => parseConfig(job(`schedule: "${schedule}"\nrun: x`), 'c.yaml', {}), 'c.yaml');
      assert.equal(problems.length, 1, schedule);
      assert.ok(problems[0]?.startsWith(`3:15: bad cron expression "${schedule}": ${why}`), problems[0]);
    }
  });

  it('checks the time zone and still checks the expression when the zone is unknown', async () => {
    const text = job('schedule: "0 2 * * * * *"\ntimezone: Europe/Atlantis\nrun: x');
    assert.deepEqual(await problemsOf(() => parseConfig(text, 'c.yaml', {}), 'c.yaml'), [
      '3:15: bad cron expression "0 2 * * * * *": 7 fields; expected 5 (minute hour day-of-month month ' +
        'day-of-week) or 6 (with seconds first)',
      '4:15: unknown time zone "Europe/Atlantis"',
    ]);
    const ok = parseConfig(job('schedule: "0 2 * * *"\ntimezone: America/New_York\nrun: x'), 'c.yaml', {});
    assert.equal(ok.jobs[0]?.timezone, 'America/New_York');
  });
});

describe('log level', () => {
  const text = 'log:\n  level: warn\n';

  it('takes LOCKD_LOG_LEVEL over the file when it is set and not empty', () => {
    assert.equal(parseConfig(text, 'c.yaml', {}).log.level, 'warn');
    assert.equal(parseConfig(text, 'c.yaml', { LOCKD_LOG_LEVEL: 'debug' }).log.level, 'debug');
    assert.equal(parseConfig('', 'c.yaml', { LOCKD_LOG_LEVEL: 'trace' }).log.level, 'trace');
    assert.equal(parseConfig(text, 'c.yaml', { LOCKD_LOG_LEVEL: '' }).log.level, 'warn');
  });

  it('reports an unknown level from the file or the environment', async () => {
    assert.deepEqual(await problemsOf(() => parseConfig('log: { level: loud }', 'c.yaml', {}), 'c.yaml'), [
      '1:15: expected one of trace, debug, info, warn, error, fatal, got "loud"',
    ]);
    assert.deepEqual(await problemsOf(() => parseConfig(text, 'c.yaml', { LOCKD_LOG_LEVEL: 'verbose' }), 'c.yaml'), [
      '1:1: LOCKD_LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal, got "verbose"',
    ]);
  });
});

describe('YAML syntax', () => {
  it('reports syntax errors with their position, and nothing that follows from them', async () => {
    const text = 'colour: blue\njobs:\n  a:\n    schedule: "@daily"\n   run: x\n';
    assert.deepEqual(await problemsOf(() => parseConfig(text, 'c.yaml', {}), 'c.yaml'), [
      '5:1: YAML syntax error: All mapping items must start at the same column',
    ]);
  });

  it('refuses several documents in one file', async () => {
    assert.deepEqual(await problemsOf(() => parseConfig('cluster: a\n---\ncluster: b\n', 'c.yaml', {}), 'c.yaml'), [
      '2:1: a config file holds a single YAML document (remove the "---")',
    ]);
  });

  it('reports duplicate keys at every level', async () => {
    const text = 'cluster: a\njobs:\n  j:\n    schedule: "@daily"\n    run: x\n  j:\n    run: y\ncluster: b\n';
    assert.deepEqual(await problemsOf(() => parseConfig(text, 'c.yaml', {}), 'c.yaml'), [
      '6:3: duplicate key "j"',
      '8:1: duplicate key "cluster"',
    ]);
  });
});
