import { linkSignals } from '../abort.js';
import { hostname } from 'node:os';
import type { JobConfig } from '../config/types.js';
import type { CandidateInfo, Lease } from '../election/backend.js';
import { LeadershipLostError, LockdError, UsageError } from '../errors.js';
import { raceAbort, timerSignal } from './abortable.js';
import type { ActiveRun, JobTracker } from './job-tracker.js';
import type { SchedulerContext } from './scheduler-options.js';

/** Abort reason `stopScheduling` gives runs still waiting in a local queue: not recorded. */
export const schedulingStopped = (): LockdError => new LockdError('SCHEDULING_STOPPED', 'scheduling stopped; slot left for the next leader');

const isStopped = (err: unknown): boolean => err instanceof LockdError && err.code === 'SCHEDULING_STOPPED';

/**
 * What a run holds: the job lock (its token is `LOCKD_FENCING_TOKEN`, it guards the record) and,
 * when the job has `seats`, one seat of its seat set (never a write guard, see `Backend.acquireSeat`).
 */
export interface JobHold {
  lock: Lease;
  seat?: Lease;
}

/**
 * Gives up what `hold` holds: the seat first, then the job lock (the reverse of the order taken, so
 * the seat is never held without the lock). Never throws (see `Lease.release`).
 */
export async function releaseHold(hold: JobHold): Promise<void> {
  await hold.seat?.release();
  await hold.lock.release();
}

/**
 * Takes the job lock per `overlap` (DESIGN §4): `skip` tries once (held -> `skipped`/`lock_held`);
 * `queue` waits its turn in the job's local line, then for the lock, until slot + `deadlineMs`
 * (-> `missed`/`deadline`); `allow` waits for the lock behind the job's other brief holds. Then,
 * with `seats`, a seat under the same rules (see `holdSeat`): none free with `skip` ->
 * `skipped`/`seats_full`; `queue` waits for one until the same deadline. Returns undefined when
 * the slot is not run, holding nothing; it is then already recorded, except when scheduling
 * stopped while it waited (left for the next leader). Never rejects.
 */
export async function lockFor(
  ctx: SchedulerContext,
  t: JobTracker,
  job: JobConfig,
  run: ActiveRun,
  gate: { turn: Promise<void>; waited: boolean } | undefined,
): Promise<JobHold | undefined> {
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
    const lock = await takeLock(ctx, job, signal, info);
    // Held by another run of the job (`skip`), or by foreign code through its advisory lock.
    if (lock === null || !(await holdAdvisory(ctx, job, lock.lease))) {
      await t.recordNotRun(run.slot, 'skipped', 'lock_held', run.manual);
      return undefined;
    }
    const seat = await holdSeat(ctx, job, lock.lease, signal, info);
    if (seat === null) {
      await t.recordNotRun(run.slot, 'skipped', 'seats_full', run.manual);
      return undefined;
    }
    ctx.emit('lockAcquired', job.name, ctx.clock.monotonic() - started, (gate?.waited ?? false) || lock.waited);
    return { lock: lock.lease, ...seat };
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

/**
 * The job lock per `overlap`: `allow` waits behind the job's other brief holds, `skip` only tries
 * (null when held), `queue` tries, then waits. `waited`: the lock was not free at once.
 */
async function takeLock(
  ctx: SchedulerContext,
  job: JobConfig,
  signal: AbortSignal,
  info: CandidateInfo,
): Promise<{ lease: Lease; waited: boolean } | null> {
  if (job.overlap === 'allow') return { lease: await ctx.backend.acquire(job.name, { signal, info }), waited: false };
  const free = await ctx.backend.tryAcquire(job.name, { signal, info });
  if (free) return { lease: free, waited: false };
  if (job.overlap === 'skip') return null;
  return { lease: await ctx.backend.acquire(job.name, { signal, info }), waited: true };
}

/**
 * `advisory_lock`: also takes the job's PostgreSQL advisory lock under `lease` (true when the job
 * has none). When foreign code holds the key, or the call fails, `lease` is released: false, or
 * the error is thrown.
 */
async function holdAdvisory(ctx: SchedulerContext, job: JobConfig, lease: Lease): Promise<boolean> {
  if (job.advisoryLock === undefined) return true;
  let held = false;
  try {
    if (ctx.backend.holdAdvisoryLock === undefined) throw new UsageError(`advisory_lock needs the postgres backend, not ${ctx.backend.kind}`);
    held = await ctx.backend.holdAdvisoryLock(lease, job.advisoryLock);
    return held;
  } finally {
    if (!held) await lease.release();
  }
}

/**
 * `seats`: also takes a seat of the job's seat set under `lease` ({} when the job has none):
 * `queue` waits for one (bound to `signal`: leadership, the run's abort, the slot deadline), the
 * others only try (null when every seat is taken or waited for). On null, or when the call throws
 * (the signal's reason, `BackendUnavailableError`), `lease` is released first.
 */
async function holdSeat(ctx: SchedulerContext, job: JobConfig, lease: Lease, signal: AbortSignal, info: CandidateInfo): Promise<{ seat?: Lease } | null> {
  if (job.seats === undefined) return {};
  const { name, count } = job.seats;
  let seat: Lease | null = null;
  try {
    seat =
      job.overlap === 'queue'
        ? await ctx.backend.acquireSeat(name, count, { signal, info })
        : await ctx.backend.tryAcquireSeat(name, count, { signal, info });
    return seat === null ? null : { seat };
  } finally {
    if (seat === null) await lease.release();
  }
}

/** The reason recorded for a slot that could not start because of `err`. */
export function notRunReason(ctx: SchedulerContext, run: ActiveRun, err: unknown): string {
  return run.abort.signal.aborted || !ctx.leader.isValid() || err instanceof LeadershipLostError ? 'leadership_lost' : 'backend_error';
}
