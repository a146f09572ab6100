import { linkSignals } from '../abort.js';
import { hostname } from 'node:os';
import type { JobConfig } from '../config/types.js';
import type { CandidateInfo, Lease } from '../election/backend.js';
import { LeadershipLostError, LockdError } from '../errors.js';
import { raceAbort, timerSignal } from './abortable.js';
import type { ActiveRun, JobTracker } from './job-tracker.js';
import type { SchedulerContext } from './scheduler-options.js';

/** Abort reason `stopScheduling` gives runs still waiting in a local queue: not recorded. */
export const schedulingStopped = (): LockdError => new LockdError('SCHEDULING_STOPPED', 'scheduling stopped; slot left for the next leader');

const isStopped = (err: unknown): boolean => err instanceof LockdError && err.code === 'SCHEDULING_STOPPED';

/**
 * Takes the job lock per `overlap` (DESIGN §4): `skip` tries once (held -> `skipped`/`lock_held`);
 * `queue` waits its turn in the job's local line, then for the lock, until slot + `deadlineMs`
 * (-> `missed`/`deadline`); `allow` waits for the lock behind the job's other brief holds. Returns
 * undefined when the slot is not run; it is then already recorded, except when scheduling stopped
 * while it waited (left for the next leader). Never rejects.
 */
export async function lockFor(
  ctx: SchedulerContext,
  t: JobTracker,
  job: JobConfig,
  run: ActiveRun,
  gate: { turn: Promise<void>; waited: boolean } | undefined,
): Promise<Lease | undefined> {
  const info: CandidateInfo = { node: ctx.node, host: hostname(), pid: process.pid, since: new Date(ctx.clock.now()).toISOString() };
  const started = ctx.clock.monotonic();
  const deadline =
    job.overlap === 'queue'
      ? timerSignal(ctx.clock, run.slot + job.deadlineMs - ctx.clock.now(), new LockdError('DEADLINE', 'slot deadline passed'))
      : undefined;
  const link = linkSignals([ctx.leader.signal, run.abort.signal, deadline?.signal]);
  const signal = link.signal;
  try {
    if (gate) await raceAbort(gate.turn, signal);
    run.phase = 'starting';
    if (job.overlap === 'allow') {
      const lock = await ctx.backend.acquire(job.name, { signal, info });
      ctx.emit('lockAcquired', job.name, ctx.clock.monotonic() - started, gate?.waited ?? false);
      return lock;
    }
    const free = await ctx.backend.tryAcquire(job.name, { signal, info });
    if (free) {
      ctx.emit('lockAcquired', job.name, ctx.clock.monotonic() - started, gate?.waited ?? false);
      return free;
    }
    if (job.overlap === 'skip') {
      await t.recordNotRun(run.slot, 'skipped', 'lock_held', run.manual);
      return undefined;
    }
    const lock = await ctx.backend.acquire(job.name, { signal, info });
    ctx.emit('lockAcquired', job.name, ctx.clock.monotonic() - started, true);
    return lock;
  } catch (err) {
    if (deadline?.signal.aborted) {
      await t.recordNotRun(run.slot, 'missed', 'deadline', run.manual);
    } else if (isStopped(err)) {
      ctx.logger.info({ job: job.name, run_id: run.runId }, 'scheduling stopped while the slot waited; left for the next leader');
    } else {
      ctx.logger.error({ err, job: job.name, run_id: run.runId }, 'could not take the job lock');
      await t.recordNotRun(run.slot, 'missed', notRunReason(ctx, run, err), run.manual);
    }
    return undefined;
  } finally {
    link.dispose();
    deadline?.cancel();
  }
}

/** The reason recorded for a slot that could not start because of `err`. */
export function notRunReason(ctx: SchedulerContext, run: ActiveRun, err: unknown): string {
  return run.abort.signal.aborted || !ctx.leader.isValid() || err instanceof LeadershipLostError ? 'leadership_lost' : 'backend_error';
}
