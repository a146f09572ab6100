import { setTimeout as delay } from 'node:timers/promises';
import type { ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import { childPids, cpuMs, rssMb } from './proc-usage.js';
import { crashAndRestart, startScaleDaemon, type ScaleDaemon } from './scale-daemon.js';
import { idleJobsYaml } from './scale-jobs.js';
import { scrapeMetrics, type Scrape } from './scrape.js';

export interface StartupRow {
  backend: string;
  jobs: number;
  /** ms, `lockd run` spawned → 'scheduling started' logged. */
  spawnToScheduling: number;
  /** ms, 'became leader' → 'scheduling started'. */
  leaderToScheduling: number;
  /** The start of a replica after its leader of the same jobs was killed: every job's state stored (else a fresh cluster). */
  failover?: boolean;
}

export interface IdleRow {
  backend: string;
  jobs: number;
  /** MB, lockd's VmRSS right after 'scheduling started'. */
  rssAtStartMb: number;
  /** MB, lockd's VmRSS at the end of the idle window. */
  rssMb: number;
  /** % of one core used by lockd over the idle window. */
  cpuPct: number;
  watchdogRssMb: number;
  watchdogCpuPct: number;
}

export interface ScrapeRow {
  backend: string;
  jobs: number;
  samples: Scrape[];
}

export interface FootprintOptions {
  ttlS: number;
  /** Job counts to start, in order; the first and the last stay up for the idle and scrape figures. */
  jobCounts: number[];
  /** Seconds between the last start and the idle window (GC and start-up garbage settle). */
  settleS: number;
  /** Length of the idle CPU window, seconds. */
  idleS: number;
  scrapes: number;
  /** No idle job is due within this many minutes from now (longer than this section runs). */
  quietMinutes: number;
  startTimeoutMs: number;
  /** Only the start-up rows: each daemon is stopped once it schedules; `idle` and `scrapes` come back empty. */
  startupOnly?: boolean;
}

/**
 * On one backend: start-up time of a daemon with each job count (one at a time, idle hourly
 * jobs, a fresh cluster each), and at the largest also of a replica started after that daemon is
 * killed (`crashAndRestart`: every state stored, as after a failover); then, with the smallest and the largest still up, their idle CPU (utime + stime over
 * `idleS`) and RSS, lockd and its watchdog child apart, both watched over the same window; then
 * `scrapes` scrapes of `/metrics` of each, alternating.
 */
export async function footprint(target: ProcessBackendTarget, opts: FootprintOptions): Promise<{ startup: StartupRow[]; idle: IdleRow[]; scrapes: ScrapeRow[] }> {
  const kept: Array<{ jobs: number; daemon: ScaleDaemon; rssAtStartMb: number }> = [];
  const startup: StartupRow[] = [];
  try {
    for (const [i, jobs] of opts.jobCounts.entries()) {
      let daemon = await startScaleDaemon(target, opts.ttlS, () => idleJobsYaml(jobs, opts.quietMinutes), opts.startTimeoutMs);
      if (i === opts.jobCounts.length - 1 && i > 0) {
        startup.push({ backend: target.name, jobs, spawnToScheduling: daemon.spawnToScheduling, leaderToScheduling: daemon.leaderToScheduling });
        daemon = await crashAndRestart(daemon, opts.startTimeoutMs);
        startup.push({ backend: target.name, jobs, spawnToScheduling: daemon.spawnToScheduling, leaderToScheduling: daemon.leaderToScheduling, failover: true });
        if (opts.startupOnly) await daemon.cluster.stop();
        else kept.push({ jobs, daemon, rssAtStartMb: rssMb(daemon.lockd.pid) });
        continue;
      }
      const rssAtStartMb = rssMb(daemon.lockd.pid);
      startup.push({ backend: target.name, jobs, spawnToScheduling: daemon.spawnToScheduling, leaderToScheduling: daemon.leaderToScheduling });
      if (!opts.startupOnly && (i === 0 || i === opts.jobCounts.length - 1)) kept.push({ jobs, daemon, rssAtStartMb });
      else await daemon.cluster.stop();
    }
    if (opts.startupOnly) return { startup, idle: [], scrapes: [] };
    await delay(opts.settleS * 1000);
    const watched = kept.map((k) => ({ ...k, lockdPid: k.daemon.lockd.pid, watchdogPid: onlyChild(k.daemon.lockd.pid) }));
    const before = watched.map((w) => ({ lockd: cpuMs(w.lockdPid), watchdog: cpuMs(w.watchdogPid), at: performance.now() }));
    await delay(opts.idleS * 1000);
    const idle = watched.map((w, i): IdleRow => {
      const elapsedMs = performance.now() - before[i]!.at;
      return {
        backend: target.name,
        jobs: w.jobs,
        rssAtStartMb: w.rssAtStartMb,
        rssMb: rssMb(w.lockdPid),
        cpuPct: ((cpuMs(w.lockdPid) - before[i]!.lockd) / elapsedMs) * 100,
        watchdogRssMb: rssMb(w.watchdogPid),
        watchdogCpuPct: ((cpuMs(w.watchdogPid) - before[i]!.watchdog) / elapsedMs) * 100,
      };
    });
    const scrapes: ScrapeRow[] = kept.map((k) => ({ backend: target.name, jobs: k.jobs, samples: [] }));
    for (let n = 0; n < opts.scrapes; n++) {
      for (const [i, k] of kept.entries()) scrapes[i]!.samples.push(await scrapeMetrics(k.daemon.url));
    }
    return { startup, idle, scrapes };
  } finally {
    await Promise.all(kept.map((k) => k.daemon.cluster.stop()));
  }
}

/** The watchdog: an idle daemon's only child process. */
function onlyChild(pid: number): number {
  const children = childPids(pid);
  if (children.length !== 1) throw new Error(`lockd ${pid} has ${children.length} child processes, expected only its watchdog`);
  return children[0]!;
}
