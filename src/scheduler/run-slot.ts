import type { JobConfig } from '../config/types.js';
import type { Lease } from '../election/backend.js';
import { LeadershipLostError } from '../errors.js';
import type { AttemptResult } from '../runner/types.js';
import { linkSignals } from '../abort.js';
import { sleep } from './abortable.js';
import { lockFor, notRunReason, releaseHold, type JobHold } from './job-lock.js';
import type { ActiveRun, JobTracker } from './job-tracker.js';
import { runId, runKey, type RunOutcome, type RunRecord } from './records.js';
import type { SchedulerContext } from './scheduler-options.js';
import { settledPut } from './settled-put.js';

/** One slot to handle. */
export interface SlotRequest {
  /** Epoch ms the cron expression names, or the trigger time of a manual run. */
  slot: number;
  manual: boolean;
  /** Called once: with the run id when the slot's `running` record was written, else with null. */
  onRecorded?: (runId: string | null) => void;
}

/**
 * Handles one slot of one job (DESIGN §4): the overlap policy's lock (and the job's seat, see
 * `lockFor`), the `running` record written with `guardedPut([leader, lock], ifAbsent)`, a
 * synchronous lease check right before the child starts, retries under the same record, the final
 * outcome, `jobs/<job>`, the release of the seat and the lock.
 * A slot that does not run is recorded `skipped` or `missed` with the reason. A slot whose record
 * already exists (handled by another leader) is not run and not recorded again. Never rejects:
 * backend failures are logged and the slot is not started.
 */
export async function runSlot(ctx: SchedulerContext, t: JobTracker, req: SlotRequest): Promise<void> {
  const job = t.job;
  let reported = false;
  const report = (id: string | null): void => {
    if (reported) return;
    reported = true;
    req.onRecorded?.(id);
  };
  try {
    if (!req.manual && ctx.clock.now() - req.slot > job.deadlineMs) {
      await t.recordNotRun(req.slot, 'missed', 'deadline');
      return;
    }
    if ((job.overlap === 'skip' && t.active.size > 0) || (job.overlap !== 'allow' && ctx.busyElsewhere(job.name))) {
      await t.recordNotRun(req.slot, 'skipped', 'overlap', req.manual);
      return;
    }
    const run: ActiveRun = {
      runId: runId(job.name, req.slot, req.manual),
      slot: req.slot,
      manual: req.manual,
      abort: new AbortController(),
      phase: job.overlap === 'queue' ? 'waiting' : 'starting',
    };
    t.active.add(run);
    try {
      await lockAndRun(ctx, t, job, run, report);
    } finally {
      t.active.delete(run);
    }
  } catch (err) {
    ctx.logger.error({ err, job: job.name, run_id: runId(job.name, req.slot, req.manual) }, 'slot handling failed');
  } finally {
    report(null);
  }
}

async function lockAndRun(ctx: SchedulerContext, t: JobTracker, job: JobConfig, run: ActiveRun, report: (id: string) => void): Promise<void> {
  const gate = job.overlap === 'queue' ? t.queue.enter() : job.overlap === 'allow' ? t.lockGate.enter() : undefined;
  try {
    // `skip` only tries the lock: a call like the record write, bounded the same way. `queue` and
    // `allow` may wait for the lock (a watch, not a write) and must not hold a place meanwhile.
    const hold = job.overlap === 'skip' ? await ctx.slotCalls.run(() => lockFor(ctx, t, job, run, gate)) : await lockFor(ctx, t, job, run, gate);
    if (!hold) return;
    const heldSince = ctx.clock.monotonic();
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      await releaseHold(hold);
      ctx.emit('lockReleased', job.name, ctx.clock.monotonic() - heldSince);
    };
    try {
      // The lock answers of a burst arrive hundreds per socket read: each slot's record write is
      // set up in turn too.
      const record = await ctx.slotCalls.run(async () => {
        await ctx.pace();
        return createRecord(ctx, t, run, hold);
      });
      // `allow` holds the lock only to take a token and write the record: runs may overlap.
      if (job.overlap === 'allow') {
        await release();
        gate?.leave();
      }
      if (!record) return;
      // A burst spawns its children in turn, with the event loop in between (see `Pacer`): a
      // spawn is milliseconds of synchronous work, and the record answers of hundreds of slots
      // arrive at once. The pacer lets the next slot through once this continuation has run up
      // to its first await, which is after the spawn.
      await ctx.pace();
      report(run.runId);
      await execute(ctx, t, job, run, hold, record);
    } finally {
      await release();
    }
  } finally {
    gate?.leave();
  }
}

/** Writes the slot's `running` record; undefined when the slot must not run. */
async function createRecord(ctx: SchedulerContext, t: JobTracker, run: ActiveRun, { lock, seat }: JobHold): Promise<RunRecord | undefined> {
  const record: RunRecord = {
    job: t.name,
    slot: run.slot,
    runId: run.runId,
    scheduledAt: new Date(run.slot).toISOString(),
    ...(run.manual ? { manual: true } : {}),
    node: ctx.node,
    token: lock.token.toString(),
    ...(seat ? { seatToken: seat.token.toString() } : {}),
    leaderToken: ctx.leader.token.toString(),
    outcome: 'running',
    attempt: 1,
    startedAt: new Date(ctx.clock.now()).toISOString(),
  };
  let created: boolean;
  try {
    // Guarded by both: a stale leader cannot record, and the token handed over is still ours. A
    // reply lost on the way is settled by reading the record back (`settledPut`).
    created = (await settledPut(ctx, [ctx.leader, lock], runKey(t.name, run.slot, run.manual), JSON.stringify(record), { ifAbsent: true })) === 'written';
  } catch (err) {
    ctx.logger.error({ err, job: t.name, run_id: run.runId }, 'could not record the run; not starting it');
    await t.recordNotRun(run.slot, 'missed', notRunReason(ctx, run, err), run.manual);
    return undefined;
  }
  if (!created) {
    ctx.logger.info({ job: t.name, run_id: run.runId }, 'slot already recorded (another leader handled it); not running it again');
    return undefined;
  }
  t.noteHandled(run.slot, run.manual);
  return record;
}

/** Runs the slot's child bound to leadership loss, its lock (unless `allow`), its seat and `killAll`. */
async function execute(ctx: SchedulerContext, t: JobTracker, job: JobConfig, run: ActiveRun, hold: JobHold, record: RunRecord): Promise<void> {
  // Detached when the run ends, so the term-long leadership signal keeps no trace of it.
  const held = job.overlap === 'allow' ? [] : [hold.lock.signal, hold.seat?.signal];
  const link = linkSignals([ctx.leadershipSignal, ...held, run.abort.signal]);
  try {
    await attemptsAndOutcome(ctx, t, job, run, hold, record, link.signal);
  } finally {
    link.dispose();
  }
}

/** Attempts (with retries) under one record, bound to `signal`, then the final outcome and job state. */
async function attemptsAndOutcome(
  ctx: SchedulerContext,
  t: JobTracker,
  job: JobConfig,
  run: ActiveRun,
  hold: JobHold,
  record: RunRecord,
  signal: AbortSignal,
): Promise<void> {
  const { lock, seat } = hold;
  const allow = job.overlap === 'allow';
  // After the record exists, the lock (held until the end) vouches for updates, so a run that
  // outlives a graceful resignation still records its outcome; `allow` has only the leader.
  const updateGuards: Lease[] = allow ? [ctx.leader] : [lock];
  const startGuards: Lease[] = allow ? [ctx.leader] : [ctx.leader, lock];
  const canStart = (): boolean => !run.abort.signal.aborted && ctx.leader.isValid() && (allow || lock.isValid()) && (seat?.isValid() ?? true);
  const log = ctx.logger.child({ job: job.name, run_id: run.runId });
  let result: AttemptResult | undefined;
  let firstStart: number | undefined;
  let ranAttempt = 0;
  for (let attempt = 1; ; attempt += 1) {
    if (attempt > 1) {
      try {
        await sleep(ctx.clock, job.retryBackoffMs, signal);
        if (!canStart()) break;
        await t.putRecord(startGuards, { ...record, attempt });
      } catch (err) {
        log.warn({ err }, 'retry abandoned');
        break;
      }
    }
    // Checked synchronously right before the start: after a SIGSTOP the timer that aborts the
    // lease may not have run yet, but its monotonic deadline has passed.
    if (!canStart()) {
      if (attempt === 1) return notStarted(ctx, t, run, record, updateGuards);
      break;
    }
    ranAttempt = attempt;
    run.phase = 'running';
    run.token = lock.token;
    run.startedAt ??= ctx.clock.now();
    log.info({ token: lock.token.toString(), attempt }, 'run started');
    result = await ctx.runner({
      job,
      runId: run.runId,
      lockdEnv: lockdEnv(ctx, job, run, hold, attempt),
      signal,
      logger: ctx.logger,
      groups: ctx.groups?.(lock.sessionId),
      onStarted: attempt === 1 ? (_pid, at) => ctx.emit('runStarted', job.name, run.runId, at - run.slot) : undefined,
    });
    firstStart ??= result.startedAt;
    if (result.outcome === 'success' || result.outcome === 'killed' || attempt > job.retries || signal.aborted) break;
    log.warn({ outcome: result.outcome, attempt, error: result.error }, `attempt ${attempt} ${result.outcome}; retrying`);
  }
  if (!result) return;
  const outcome: RunOutcome = result.outcome === 'spawn_error' ? 'failed' : result.outcome;
  const durationMs = result.endedAt - (firstStart ?? result.startedAt);
  const final: RunRecord = {
    ...record,
    outcome,
    attempt: ranAttempt,
    startedAt: new Date(firstStart ?? result.startedAt).toISOString(),
    endedAt: new Date(result.endedAt).toISOString(),
    durationMs,
    exitCode: result.exitCode,
    signal: result.signal,
    output: result.outputTail,
    ...(result.error !== undefined ? { reason: result.error } : {}),
  };
  log.info({ token: lock.token.toString(), outcome, duration_ms: durationMs, exit_code: result.exitCode }, 'run finished');
  ctx.emit('runFinished', job.name, outcome, durationMs);
  // A burst's children end together: their outcome, state and pruning writes go in turn as well.
  await ctx.slotCalls.run(async () => {
    await ctx.pace();
    await recordOutcome(ctx, t, allow, updateGuards, final, log);
  });
  t.prune();
}

/** The run's final record (see `attemptsAndOutcome`) and the job's state. */
async function recordOutcome(ctx: SchedulerContext, t: JobTracker, allow: boolean, updateGuards: Lease[], final: RunRecord, log: SchedulerContext['logger']): Promise<void> {
  try {
    await t.putRecord(updateGuards, final);
  } catch (err) {
    if (!allow && err instanceof LeadershipLostError && ctx.leader.isValid()) {
      // The lock was lost (its child was killed) while this node still leads: the leader alone
      // still fences the write.
      await t.putRecord([ctx.leader], final).catch((e: unknown) => log.warn({ err: e }, 'could not record the run outcome'));
    } else {
      log.warn({ err }, 'could not record the run outcome');
    }
  }
  await t.saveState();
}

async function notStarted(ctx: SchedulerContext, t: JobTracker, run: ActiveRun, record: RunRecord, guards: Lease[]): Promise<void> {
  ctx.logger.warn({ job: t.name, run_id: run.runId, reason: 'leadership_lost' }, 'lease no longer valid at start; not starting');
  t.countNotRun('missed', 'leadership_lost', 1);
  try {
    await t.putRecord(guards, { ...record, outcome: 'missed', reason: 'leadership_lost', attempt: 0 });
  } catch (err) {
    ctx.logger.debug({ err, job: t.name, run_id: run.runId }, 'could not record the slot as missed');
  }
  await t.saveState();
}

/** The `LOCKD_*` variables of one attempt (DESIGN §5); with `seats`, the seat's token and the count. */
function lockdEnv(ctx: SchedulerContext, job: JobConfig, run: ActiveRun, { lock, seat }: JobHold, attempt: number): Record<string, string> {
  return {
    LOCKD_CLUSTER: ctx.cluster,
    LOCKD_NODE: ctx.node,
    LOCKD_JOB: job.name,
    LOCKD_RUN_ID: run.runId,
    LOCKD_SCHEDULED_AT: new Date(run.slot).toISOString(),
    LOCKD_FENCING_TOKEN: lock.token.toString(),
    LOCKD_ATTEMPT: String(attempt),
    ...(seat && job.seats ? { LOCKD_SEAT_TOKEN: seat.token.toString(), LOCKD_SEATS: String(job.seats.count) } : {}),
  };
}
