import type { Burst, BurstRow } from './scale-burst.js';
import type { IdleRow, ScrapeRow, StartupRow } from './scale-footprint.js';
import type { ScaleSettings } from './scale.js';
import { markdownTable, ms, percentile } from './stats.js';

/** Issue 10's targets. */
const TARGET = { leaderToSchedulingMs: 1000, burstRatio: 1.3, extraRssMb: 20, idleCpuPct: 0.3, scrapeBytes: 2 * 1024 * 1024 };

const ratio = (x: number, base: number): string => `${(x / base).toFixed(2)}×`;
const verdict = (met: boolean): string => (met ? 'met' : '**missed**');
const mb = (x: number): string => x.toFixed(1);
const pct = (x: number): string => x.toFixed(2);
/** The row of the same backend with the fewest jobs: the baseline of a scale figure. */
const baselineOf = <T extends { backend: string; jobs: number }>(rows: T[], row: T): T =>
  rows.filter((r) => r.backend === row.backend).reduce((a, b) => (b.jobs < a.jobs ? b : a));

/** The scale section of the benchmark report, in markdown. */
export function scaleReport(s: ScaleSettings, r: { startup: StartupRow[]; idle: IdleRow[]; scrapes: ScrapeRow[]; bursts: BurstRow[]; failures: string[] }): string {
  const largest = s.jobCounts.at(-1);
  const failures = r.failures.length === 0 ? [] : ['### Not measured (the measurement failed)', '', ...r.failures.map((f) => `- ${f}`), ''];
  const startup = [
    `## Scale (TTL ${s.ttlS} s, one daemon per cluster, log level debug${s.startupOnly ? '; start-up only' : ''})`,
    '',
    `### Start-up (ms; idle hourly jobs; baseline: the same daemon with 1 job; target: scheduling within ${TARGET.leaderToSchedulingMs} ms of winning)`,
    '',
    markdownTable(
      ['backend', 'jobs', 'spawn → scheduling started', 'ratio', 'became leader → scheduling started', 'ratio', 'target'],
      r.startup.map((row) => {
        const base = baselineOf(r.startup, row);
        return [
          row.backend,
          row.failover === true ? `${row.jobs} (after a kill -9: states stored)` : String(row.jobs),
          ms(row.spawnToScheduling),
          ratio(row.spawnToScheduling, base.spawnToScheduling),
          ms(row.leaderToScheduling),
          ratio(row.leaderToScheduling, base.leaderToScheduling),
          verdict(row.leaderToScheduling <= TARGET.leaderToSchedulingMs),
        ];
      }),
    ),
    '',
  ];
  if (s.startupOnly) return [...startup, ...failures].join('\n');
  return [
    ...startup,
    `### Burst (ms; ${s.burstJobs} identical jobs due in the same second, ${s.bursts} slots ${s.periodS} s apart; baseline: ${s.burstJobs} bare spawns of the same shell line right after each; target ≤ ${TARGET.burstRatio}× in every burst)`,
    '',
    burstTable(s, r.bursts),
    '',
    `### Renewals during the bursts (ms; lateness: acknowledged − due, due = previous send + interval)`,
    '',
    renewalTable(r.bursts),
    '',
    `### Idle footprint (lockd's own process; its watchdog child apart; CPU over ${s.idleS} s after ${s.settleS} s settling; targets: ≤ ${TARGET.extraRssMb} MB more RSS than 1 job, ≤ ${TARGET.idleCpuPct} % of a core)`,
    '',
    markdownTable(
      ['backend', 'jobs', 'RSS after start (MB)', 'RSS settled (MB)', 'extra RSS', 'CPU (% of a core)', 'extra CPU', 'watchdog RSS (MB), CPU (%)', 'target RSS', 'target CPU'],
      r.idle.map((row) => {
        const base = baselineOf(r.idle, row);
        const isLargest = row.jobs === largest;
        return [
          row.backend,
          String(row.jobs),
          mb(row.rssAtStartMb),
          mb(row.rssMb),
          `${mb(row.rssMb - base.rssMb)} (${ratio(row.rssMb, base.rssMb)})`,
          pct(row.cpuPct),
          pct(row.cpuPct - base.cpuPct),
          `${mb(row.watchdogRssMb)}, ${pct(row.watchdogCpuPct)}`,
          isLargest ? verdict(row.rssMb - base.rssMb <= TARGET.extraRssMb) : '',
          isLargest ? verdict(row.cpuPct <= TARGET.idleCpuPct) : '',
        ];
      }),
    ),
    '',
    `### /metrics scrape of the idle daemons (jobs that never ran; ${s.scrapes} scrapes each, alternating, fetched from the benchmark process; target ≤ 2 MB)`,
    '',
    markdownTable(
      ['backend', 'jobs', 'bytes', 'lines', 'time p50 (ms)', 'time max (ms)', 'size ratio', 'time ratio (p50)', 'target'],
      r.scrapes.map((row) => {
        const base = baselineOf(r.scrapes, row);
        const p50 = percentile(row.samples.map((x) => x.ms), 50);
        const bytes = row.samples.at(-1)!.bytes;
        return [
          row.backend,
          String(row.jobs),
          String(bytes),
          String(row.samples.at(-1)!.lines),
          ms(p50),
          ms(Math.max(...row.samples.map((x) => x.ms))),
          ratio(bytes, base.samples.at(-1)!.bytes),
          ratio(p50, percentile(base.samples.map((x) => x.ms), 50)),
          row.jobs === largest ? verdict(bytes <= TARGET.scrapeBytes) : '',
        ];
      }),
    ),
    '',
    `### /metrics after the bursts (one scrape; the jobs that ran have series; bytes per job over all ${s.burstJobs}, a lower bound if some never ran; 10,000 extrapolated linearly; target ≤ 2 MB at 10,000)`,
    '',
    markdownTable(
      ['backend', 'jobs', 'bytes', 'lines', 'time (ms)', 'bytes per job', '10,000 jobs (extrapolated)', 'target'],
      r.bursts.flatMap((row) => {
        const x = row.scrape;
        if (x === undefined) return [];
        const base = r.scrapes.find((b) => b.backend === row.backend && b.jobs === 1)?.samples.at(-1)?.bytes ?? 0;
        const perJob = (x.bytes - base) / row.jobs;
        const at10k = base + perJob * 10_000;
        return [[row.backend, String(row.jobs), String(x.bytes), String(x.lines), ms(x.ms), perJob.toFixed(0), `${(at10k / 1024 / 1024).toFixed(1)} MB`, verdict(at10k <= TARGET.scrapeBytes)]];
      }),
    ),
    '',
    ...failures,
  ].join('\n');
}

/** The burst table of `bursts` (also the PostgreSQL section's). */
export function burstTable(s: Pick<ScaleSettings, 'burstJobs'>, bursts: BurstRow[]): string {
  return markdownTable(
    ['backend', 'slot → last job started, per burst (jobs started)', `${s.burstJobs} bare spawns → last started`, 'ratio per burst', 'target'],
    bursts.map((row) => {
      const complete = (b: Burst): boolean => b.started === row.jobs;
      const ratios = row.lockd.map((b, i) => (complete(b) ? `${(b.lastStartMs / row.bare[i]!).toFixed(2)}×` : `only ${b.started} started`) + (b.bareOverlapped ? ' (baseline overlapped the next burst)' : ''));
      const met = row.lockd.every((b, i) => complete(b) && b.lastStartMs / row.bare[i]! <= TARGET.burstRatio);
      return [row.backend, row.lockd.map((b) => `${ms(b.lastStartMs)} (${b.started})`).join(', '), row.bare.map(ms).join(', '), ratios.join(', '), verdict(met)];
    }),
  );
}

/** The renewals-during-bursts table of `bursts`. */
export function renewalTable(bursts: BurstRow[]): string {
  return markdownTable(
    ['backend', 'renewal interval', 'renewals during bursts', 'lateness p99', 'lateness max', 'all renewals of the run: n, p99', "'leadership lost' lines", 'leader changes (metric)', 'log lines dropped (metric)'],
    bursts.map((row) => {
      const k = row.renewals;
      const metric = (name: string): string => String(row.scrape?.totals.get(name) ?? '-');
      const counts = [String(row.leasesLost), metric('lockd_leader_changes_total'), metric('lockd_log_lines_dropped_total')];
      if (k === undefined) return [row.backend, '-', 'not logged per renewal: not measured', '-', '-', '-', ...counts];
      const during = k.duringBursts.map((x) => x.lateMs);
      const all = k.all.map((x) => x.lateMs);
      return [row.backend, ms(k.intervalMs), String(during.length), ms(percentile(during, 99)), ms(percentile(during, 100)), `${all.length}, ${ms(percentile(all, 99))}`, ...counts];
    }),
  );
}

/** A row backend's burst and its renewals, as subsections of that backend's bench section. */
export function burstSectionLines(r: BurstRow, s: ScaleSettings): string[] {
  return [
    `### Burst (ms; ${s.burstJobs} identical jobs due in the same second, ${s.bursts} slots ${s.periodS} s apart, TTL ${s.ttlS} s; baseline: ${s.burstJobs} bare spawns of the same shell line right after each; target ≤ 1.3× in every burst)`,
    '',
    burstTable(s, [r]),
    '',
    '### Renewals during the bursts (ms; lateness: acknowledged − due, due = previous send + interval; send = acknowledged − round trip)',
    '',
    renewalTable([r]),
    '',
  ];
}
