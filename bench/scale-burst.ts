import { setTimeout as delay } from 'node:timers/promises';
import type { ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import type { LockdProcess } from '../test/helpers/lockd-process.js';
import { waitFor } from '../test/helpers/wait-for.js';
import { bareSpawns } from './bare-spawns.js';
import { cpuMs } from './proc-usage.js';
import { renewalLateness, type Renewal } from './renewal-lateness.js';
import { startScaleDaemon } from './scale-daemon.js';
import { burstJobsYaml, startsOf } from './scale-jobs.js';

export interface BurstRow {
  backend: string;
  jobs: number;
  /** Per burst: ms from the slot to the last of its jobs' shells running `date`. */
  lockd: number[];
  /** Per burst, run right after it: ms from the first of `jobs` bare spawns to the last shell's `date`. */
  bare: number[];
  /** The renewal interval, and the renewals due or acknowledged while a burst was starting. */
  renewals: { intervalMs: number; duringBursts: Renewal[]; all: Renewal[] } | undefined;
  /** 'leadership lost' lines logged during the run (each is a lease the daemon's own work lost). */
  leasesLost: number;
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
 * `bursts` consecutive slots after 'scheduling started', the time from the slot to the last job
 * started (the ledger's `date` inside each job's shell), then, once the daemon has logged every
 * run of the slot finished and is idle again, the same number of bare spawns of the same line
 * from this process. Renewals are read from the daemon's debug log.
 */
export async function burst(target: ProcessBackendTarget, opts: BurstOptions): Promise<BurstRow> {
  const periodMs = opts.periodS * 1000;
  const daemon = await startScaleDaemon(target, opts.ttlS, (c) => burstJobsYaml(opts.jobs, opts.periodS, c.file('ledger')), opts.startTimeoutMs);
  const ledger = daemon.cluster.file('ledger');
  const row: BurstRow = { backend: target.name, jobs: opts.jobs, lockd: [], bare: [], renewals: undefined, leasesLost: 0 };
  const windows: Array<{ from: number; to: number }> = [];
  try {
    let slot = Math.floor(daemon.schedulingAt / periodMs) * periodMs + periodMs;
    for (let b = 0; b < opts.bursts; b++, slot += periodMs) {
      const what = `${opts.jobs} runs of the ${new Date(slot).toISOString()} slot`;
      await waitFor(`${what} to start`, () => startsOf(ledger, slot).length >= opts.jobs, slot - Date.now() + 3 * periodMs, 100);
      const lastStart = Math.max(...startsOf(ledger, slot).map((s) => s.atMs));
      row.lockd.push(lastStart - slot);
      windows.push({ from: slot, to: lastStart });
      await runsFinished(daemon.lockd, opts.jobs, slot, 3 * periodMs);
      await waitFor('lockd to be idle after the burst', () => idleFor(daemon.lockd.pid, 500), periodMs, 0);
      row.bare.push(await bareSpawns(opts.jobs, daemon.cluster.file(`bare-${b}`)));
      if (Date.now() > slot + periodMs) throw new Error(`the baseline of ${what} overlapped the next slot; raise BENCH_SCALE_PERIOD_S`);
    }
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

/** Waits for the daemon's `jobs` 'run finished' lines of `slot` (run ids end in `:<slot ms>`). */
async function runsFinished(lockd: LockdProcess, jobs: number, slot: number, timeoutMs: number): Promise<void> {
  let seen = 0;
  await lockd.waitForLog((l) => l.msg === 'run finished' && String(l.run_id).endsWith(`:${slot}`) && ++seen === jobs, timeoutMs);
}

/** Whether `pid` used at most one clock tick (10 ms) of CPU over the next `windowMs`. */
async function idleFor(pid: number, windowMs: number): Promise<boolean> {
  const before = cpuMs(pid);
  await delay(windowMs);
  return cpuMs(pid) - before <= 10;
}
