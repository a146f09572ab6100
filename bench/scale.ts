import type { ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import { burst, type BurstRow } from './scale-burst.js';
import { footprint, type IdleRow, type ScrapeRow, type StartupRow } from './scale-footprint.js';
import { scaleReport } from './scale-report.js';

/** What the scale section measures; every field has a `BENCH_SCALE_*` variable (issue 10 defaults). */
export interface ScaleSettings {
  ttlS: number;
  /** Job counts whose start-up is measured against a 1-job daemon; the largest is kept for the idle and scrape figures. */
  jobCounts: number[];
  burstJobs: number;
  bursts: number;
  periodS: number;
  settleS: number;
  idleS: number;
  scrapes: number;
  backends: string[];
  /** `BENCH_SCALE_STARTUP_ONLY=1`: only the start-up table (no idle window, scrapes or bursts: a minute a backend instead of five). */
  startupOnly: boolean;
}

const env = (name: string, fallback: string): string => process.env[`BENCH_SCALE_${name}`] ?? fallback;

export function scaleSettings(): ScaleSettings {
  return {
    ttlS: Number(env('TTL_S', '10')),
    jobCounts: [1, ...env('JOBS', '1000,10000').split(',').map(Number)].sort((a, b) => a - b),
    burstJobs: Number(env('BURST_JOBS', '1000')),
    bursts: Number(env('BURSTS', '3')),
    periodS: Number(env('PERIOD_S', '30')),
    settleS: Number(env('SETTLE_S', '10')),
    idleS: Number(env('IDLE_S', '20')),
    scrapes: Number(env('SCRAPES', '5')),
    backends: env('BACKENDS', 'embedded,etcd,zookeeper').split(','),
    startupOnly: env('STARTUP_ONLY', '0') === '1',
  };
}

/** Idle jobs are not due within this many minutes of being written: longer than the section runs. */
const QUIET_MINUTES = 30;

/**
 * `npm run bench -- scale`: per backend, start-up at each job count, idle CPU and RSS and a
 * `/metrics` scrape at the largest, then bursts of `burstJobs` jobs due at once against as many
 * bare spawns, with the daemon's renewals during them and its `/metrics` after them. Returns the markdown section; a
 * measurement that fails is listed there and the others still run.
 */
export async function scale(targets: ProcessBackendTarget[], settings: ScaleSettings, progress: (what: string) => void): Promise<string> {
  const startup: StartupRow[] = [];
  const idle: IdleRow[] = [];
  const scrapes: ScrapeRow[] = [];
  const bursts: BurstRow[] = [];
  const failures: string[] = [];
  /** One measurement; a failure is reported in the section (first line of its error) and the run goes on. */
  const attempt = async (what: string, measure: () => Promise<void>): Promise<void> => {
    progress(what);
    try {
      await measure();
    } catch (err) {
      failures.push(`${what}: ${String(err).split('\n')[0]}`);
      progress(`${what} failed: ${String(err)}`);
    }
  };
  for (const target of targets.filter((t) => settings.backends.includes(t.name))) {
    await attempt(`scale ${target.name}: start-up${settings.startupOnly ? '' : ', idle footprint, scrape'}`, async () => {
      const measured = await footprint(target, {
        ttlS: settings.ttlS,
        jobCounts: settings.jobCounts,
        settleS: settings.settleS,
        idleS: settings.idleS,
        scrapes: settings.scrapes,
        quietMinutes: QUIET_MINUTES,
        startTimeoutMs: 120_000,
        startupOnly: settings.startupOnly,
      });
      startup.push(...measured.startup);
      idle.push(...measured.idle);
      scrapes.push(...measured.scrapes);
    });
    if (settings.startupOnly) continue;
    await attempt(`scale ${target.name}: ${settings.bursts} bursts of ${settings.burstJobs} jobs`, async () => {
      bursts.push(await burst(target, { ttlS: settings.ttlS, jobs: settings.burstJobs, periodS: settings.periodS, bursts: settings.bursts, startTimeoutMs: 120_000 }));
    });
  }
  return scaleReport(settings, { startup, idle, scrapes, bursts, failures });
}
