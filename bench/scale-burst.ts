import { setTimeout as delay } from 'node:timers/promises';
import type { ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import type { LockdProcess, LogLine } from '../test/helpers/lockd-process.js';
import { waitFor } from '../test/helpers/wait-for.js';
import { bareSpawns } from './bare-spawns.js';
import { cpuMs } from './proc-usage.js';
import { renewalLateness, type Renewal } from './renewal-lateness.js';
import { startScaleDaemon } from './scale-daemon.js';
import { burstJobsYaml, startsOf } from './scale-jobs.js';
import { scrapeMetrics, type Scrape } from './scrape.js';

/** One burst as the daemon handled it. */
export interface Burst {
  slot: number;
  /** Jobs whose shell ran (the others were not started: the daemon logged why). */
  started: number;
  /** ms from the slot to the last started job's shell running `date`. */
  lastStartMs: number;
  /** The baseline after it ran into the daemon's next burst (the next burst measured is the one after). */
  bareOverlapped: boolean;
}

export interface BurstRow {
  backend: string;
  jobs: number;
  lockd: Burst[];
  /** Per burst, run right after it: ms from the first of `jobs` bare spawns to the last shell's `date`. */
  bare: number[];
  /** The renewal interval, and the renewals due or acknowledged while a burst was starting. */
  renewals: { intervalMs: number; duringBursts: Renewal[]; all: Renewal[] } | undefined;
  /**
   * 'leadership lost' lines logged during the run (each is a lease the daemon's own work lost); a
   * lower bound when the daemon dropped log lines (its stdout read too slowly: see the metric).
   */
  leasesLost: number;
  /** `/metrics` after the bursts: every job has run. */
  scrape: Scrape | undefined;
}

export interface BurstOptions {
  ttlS: number;
  jobs: number;
  /** Seconds between bursts: the jobs' schedule is every `periodS` seconds. */
  periodS: number;
  bursts: number;
  startTimeoutMs: number;
}

/**
 * On one backend: one daemon with `jobs` identical jobs due every `periodS` s; for each of
 * `bursts` slots after 'scheduling started' (after a lost lease, the next one after scheduling
 * started again), the time from the slot to the last job started (the ledger's `date` inside each
 * job's shell) and how many started, then, once the daemon has logged the end of every run of the
 * slot and is idle again, the same number of bare spawns of the same line from this process (a
 * baseline that runs into the next slot is flagged, and that slot is not measured).
 * Renewals are read from the daemon's debug log; `/metrics` is scraped at the end.
 */
export async function burst(target: ProcessBackendTarget, opts: BurstOptions): Promise<BurstRow> {
  const periodMs = opts.periodS * 1000;
  const daemon = await startScaleDaemon(target, opts.ttlS, (c) => burstJobsYaml(opts.jobs, opts.periodS, c.file('ledger')), opts.startTimeoutMs);
  const ledger = daemon.cluster.file('ledger');
  const row: BurstRow = { backend: target.name, jobs: opts.jobs, lockd: [], bare: [], renewals: undefined, leasesLost: 0, scrape: undefined };
  const windows: Array<{ from: number; to: number }> = [];
  try {
    let slot = 0;
    for (let b = 0; b < opts.bursts; b++) {
      const lossAt = daemon.lockd.logs.findLastIndex((l) => l.msg.startsWith('leadership lost'));
      const scheduling = await daemon.lockd.waitForLog((l) => l.msg === 'scheduling started', opts.startTimeoutMs, lossAt + 1);
      slot = Math.max(slot + periodMs, Math.floor(Math.max(Date.parse(scheduling.time), Date.now()) / periodMs) * periodMs + periodMs);
      await slotHandled(daemon.lockd, opts.jobs, slot, slot - Date.now() + 3 * periodMs);
      const starts = startsOf(ledger, slot);
      const lastStart = Math.max(slot, ...starts.map((s) => s.atMs));
      windows.push({ from: slot, to: lastStart });
      await waitFor('lockd to be idle after the burst', () => idleFor(daemon.lockd.pid, 500), periodMs, 0);
      row.bare.push(await bareSpawns(opts.jobs, daemon.cluster.file(`bare-${b}`)));
      row.lockd.push({ slot, started: starts.length, lastStartMs: lastStart - slot, bareOverlapped: Date.now() > slot + periodMs });
    }
    row.scrape = await scrapeMetrics(daemon.url);
    const renewals = renewalLateness(daemon.lockd.logs, target.name, opts.ttlS * 1000);
    if (renewals !== undefined) {
      const duringBursts = renewals.renewals.filter((r) => windows.some((w) => r.ackAt >= w.from && r.dueAt <= w.to));
      row.renewals = { intervalMs: renewals.intervalMs, duringBursts, all: renewals.renewals };
    }
    row.leasesLost = daemon.lockd.logs.filter((l) => l.msg.startsWith('leadership lost')).length;
    return row;
  } finally {
    await daemon.cluster.stop();
  }
}

/** The lines that end one job's run of a slot: it ran, or why it did not (lease gone, scheduling stopped, recorded missed or already recorded). */
const endsRun = (msg: string): boolean =>
  msg === 'run finished' || msg.startsWith('lease no longer valid at start') || msg.startsWith('scheduling stopped while the slot waited') || msg.startsWith('slot ');

/**
 * Waits until the daemon has logged the end of all `jobs` runs of `slot` (run ids end in
 * `:<slot ms>`), or `timeoutMs` has passed, or it exited (then lines were dropped, or runs lost).
 */
function slotHandled(lockd: LockdProcess, jobs: number, slot: number, timeoutMs: number): Promise<void> {
  const ended = new Set<string>();
  const match = (l: LogLine): boolean => typeof l.run_id === 'string' && l.run_id.endsWith(`:${slot}`) && endsRun(l.msg) && ended.add(l.run_id).size === jobs;
  return lockd.waitForLog(match, timeoutMs).then(
    () => undefined,
    () => undefined,
  );
}

/** Whether `pid` used at most one clock tick (10 ms) of CPU over the next `windowMs`. */
async function idleFor(pid: number, windowMs: number): Promise<boolean> {
  const before = cpuMs(pid);
  await delay(windowMs);
  return cpuMs(pid) - before <= 10;
}
