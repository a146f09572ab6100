import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { LockdConfig } from '../../src/config/types.js';
import { startHttpServer, type HttpServer } from '../../src/http/server.js';
import { LockdMetrics } from '../../src/observe/metrics.js';
import { FakeBackend } from '../helpers/fake-backend.js';
import { requireBinary } from '../helpers/require-binary.js';
import { withLongestStall } from '../helpers/loop-stall.js';

const JOBS = 10_000;
const MAX_BYTES = 2 * 1024 * 1024;
/**
 * The longest synchronous stretch a scrape may cost: a guard well under the 0.5 s self-fencing margin
 * (one unchunked render of 10,000 jobs took 0.7–2 s). The ≤ 20 ms target is measured by the
 * diagnostics on an idle machine, not asserted against a shared one.
 */
const MAX_STRETCH_MS = 100;
const PROMTOOL = '/usr/bin/promtool';

const name = (i: number): string => `job-${String(i).padStart(5, '0')}`;

/** What a leader's scheduler reports for 10,000 jobs after a while: runs, failures, misses, skips, contention. */
function feed(metrics: LockdMetrics): void {
  const events = metrics.schedulerEvents();
  for (let i = 0; i < JOBS; i++) {
    const job = name(i);
    events.lockAcquired?.(job, 2 + (i % 5), i % 7 === 0);
    events.runStarted?.(job, `${job}:1`, 10 + (i % 50));
    events.runFinished?.(job, 'success', 1_500 + i);
    events.lockReleased?.(job, 1_500 + i);
    if (i % 10 === 0) events.runFinished?.(job, 'failed', 300);
    if (i % 5 === 0) events.slotMissed?.(job, 'no_leader');
    if (i % 25 === 0) events.slotMissed?.(job, 'deadline');
    if (i % 9 === 0) events.slotSkipped?.(job, 'overlap');
  }
}

/** Fetches `url`, recording the loop's longest stretch meanwhile (1 ms ticks). */
async function scrape(url: string): Promise<{ text: string; stretchMs: number; elapsedMs: number }> {
  const started = performance.now();
  const { value: text, stallMs } = await withLongestStall(async () => {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    return res.text();
  }, 1);
  return { text, stretchMs: stallMs, elapsedMs: performance.now() - started };
}

// NaN in any case: prom-client writes an event-loop histogram that has no sample yet as `Nan`, and
// Prometheus reads it (Go's ParseFloat ignores the case of NaN).
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|[Nn][Aa][Nn])$/;
const COMMENT = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)(?: (.*))?$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/**
 * Checks the Prometheus text format (0.0.4) line by line: every line a HELP/TYPE comment or a
 * sample; one TYPE per family, before its samples; a family's samples contiguous. Returns the
 * number of samples per family name.
 */
function checkExposition(text: string): Map<string, number> {
  const typed = new Map<string, string>();
  const samples = new Map<string, number>();
  const closed = new Set<string>();
  let current: string | undefined;
  const familyOf = (metric: string): string => {
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = metric.slice(0, -suffix.length);
      if (metric.endsWith(suffix) && typed.get(base) === 'histogram') return base;
    }
    return metric;
  };
  text.split('\n').forEach((line, index) => {
    if (line === '') return;
    const comment = COMMENT.exec(line);
    if (comment) {
      const [, kind, family, rest] = comment;
      if (kind === 'TYPE') {
        assert.ok(!typed.has(family!), `line ${index + 1}: second TYPE for ${family}`);
        assert.ok(TYPES.has(rest ?? ''), `line ${index + 1}: bad type in ${line}`);
        typed.set(family!, rest!);
      }
      return;
    }
    const sample = SAMPLE.exec(line);
    assert.ok(sample, `line ${index + 1} is not Prometheus text: ${JSON.stringify(line)}`);
    const family = familyOf(sample[1]!);
    assert.ok(typed.has(family), `line ${index + 1}: ${family} has no TYPE before its samples`);
    if (family !== current) {
      assert.ok(!closed.has(family), `line ${index + 1}: samples of ${family} are not contiguous`);
      if (current !== undefined) closed.add(current);
      current = family;
    }
    samples.set(family, (samples.get(family) ?? 0) + 1);
  });
  return samples;
}

describe('/metrics with 10,000 jobs', { timeout: 120_000 }, () => {
  const metrics = new LockdMetrics();
  let server: HttpServer;
  const config = { cluster: 'scale', jobs: [] } as unknown as LockdConfig;
  before(async () => {
    feed(metrics);
    server = await startHttpServer({
      listen: '127.0.0.1:0',
      metrics,
      backend: new FakeBackend(),
      config: () => config,
      live: () => true,
      logger: pino({ level: 'silent' }),
    });
  });
  after(() => server.close());

  it('is at most 2 MB, renders in slices that keep the loop responsive, and parses', async (t) => {
    const base = `http://127.0.0.1:${server.port}`;
    // Node loads its fetch client on first use, synchronously, in this process: not the server's cost.
    await (await fetch(`${base}/healthz`)).text();
    // Three scrapes, the first cold. A stretch the rendering itself causes shows in every one; a
    // garbage collection or another process taking the core (two cores, shared) shows in one.
    const scrapes = [await scrape(`${base}/metrics`), await scrape(`${base}/metrics`), await scrape(`${base}/metrics`)];
    for (const [i, s] of scrapes.entries()) {
      t.diagnostic(`scrape ${i + 1}: ${s.text.length} bytes, ${s.text.split('\n').length} lines, longest stretch ${s.stretchMs.toFixed(1)} ms, ${s.elapsedMs.toFixed(0)} ms in all`);
      assert.ok(Buffer.byteLength(s.text) <= MAX_BYTES, `${Buffer.byteLength(s.text)} bytes > ${MAX_BYTES}`);
    }
    const shortest = Math.min(...scrapes.map((s) => s.stretchMs));
    assert.ok(shortest <= MAX_STRETCH_MS, `every scrape blocked the loop for more than ${MAX_STRETCH_MS} ms (at best ${shortest.toFixed(1)} ms)`);
    const { text } = scrapes[2]!;

    const families = checkExposition(text);
    // Per job: counters and gauges, one series per label set.
    assert.match(text, /^lockd_job_runs_total\{job="job-00000",outcome="success"\} 1$/m);
    assert.match(text, /^lockd_job_runs_total\{job="job-00000",outcome="missed"\} 2$/m);
    assert.match(text, /^lockd_job_missed_total\{job="job-00025",reason="deadline"\} 1$/m);
    assert.match(text, /^lockd_lock_contended_total\{lock="job-00007"\} 1$/m);
    assert.match(text, /^lockd_job_last_success_timestamp_seconds\{job="job-00001"\} \d+(\.\d+)?$/m);
    assert.equal(families.get('lockd_job_runs_total'), JOBS + JOBS / 10 + JOBS / 5 + Math.ceil(JOBS / 9));
    // Histograms per cluster: no job or lock label, so a handful of series each.
    for (const histogram of ['lockd_lock_acquire_seconds', 'lockd_lock_hold_seconds', 'lockd_job_duration_seconds', 'lockd_job_start_delay_seconds']) {
      assert.ok((families.get(histogram) ?? 0) <= 20, `${histogram}: ${families.get(histogram)} series`);
      assert.match(text, new RegExp(`^${histogram}_count ${histogram === 'lockd_job_duration_seconds' ? JOBS + JOBS / 10 : JOBS}$`, 'm'));
    }
  });

  it('passes `promtool check metrics`', { timeout: 60_000 }, async () => {
    requireBinary(PROMTOOL, 'prometheus');
    const { text } = await scrape(`http://127.0.0.1:${server.port}/metrics`);
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    // promtool exits 1 for lint findings too (e.g. naming advice); only format errors fail here.
    assert.doesNotMatch(`${check.stdout}${check.stderr}`, /error while linting|text format parsing error/i);
  });
});
