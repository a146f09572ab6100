import type { JobConfig } from '../config/types.js';
import type { NotRunReason } from './records.js';
import { slotsBackFrom } from './cron-slots.js';

/** At most this many slots of one backlog are enumerated (newest first). */
export const MAX_BACKLOG_SLOTS = 10_000;
/** `run_all` runs at most this many slots of one backlog (the newest within the deadline). */
export const MAX_RUN_ALL = 100;

/** What to do with a job's backlog of slots. */
export interface BacklogPlan {
  /** Slots to run, oldest first. */
  run: number[];
  /** Slots to record individually as `missed`, oldest first: the newest `history` of them. */
  missed: number[];
  /** All slots counted as missed (added to `missedTotal`), including those without a record. */
  missedCount: number;
  reason: NotRunReason;
  /** The newest slot of the backlog, if any. */
  newest: number | undefined;
  /** True when enumeration stopped at `MAX_BACKLOG_SLOTS` before reaching `afterMs`. */
  truncated: boolean;
}

/**
 * Plans the slots of `job` in (`afterMs`, `nowMs`] by its misfire policy (DESIGN §4):
 * - `skip`: every slot is missed (`misfire_skip`);
 * - `run_once`: the newest slot runs if `nowMs - slot <= deadlineMs`; every other is missed;
 * - `run_all`: each slot within the deadline runs, oldest first, at most `MAX_RUN_ALL` (the newest
 *   ones); every other is missed.
 * Missed slots other than `misfire_skip` get `staleReason`: `no_leader` when a new leader takes
 * over, `deadline` when a running scheduler finds several slots due at once (a pause, a wall-clock
 * step forward; the scheduler then plans `skip` as `run_once`). `backend_data_loss` (the slots
 * after the backend lost the job's state) runs nothing, whatever the policy: every slot is missed
 * with that reason, since the lost records cannot tell which of them ran.
 *
 * Work is capped so a job every second that was down for a year cannot stall a new leader: at
 * most `MAX_BACKLOG_SLOTS` slots are enumerated, newest first; only the newest `job.history` of
 * the missed ones get an individual record, and `missedCount` is the number enumerated (so when
 * `truncated`, slots older than the 10,000th are neither recorded nor counted; the caller logs it).
 * Pure; throws only `UsageError` from cron parsing.
 */
export function planBacklog(
  job: Pick<JobConfig, 'schedule' | 'timezone' | 'misfire' | 'deadlineMs' | 'history'>,
  afterMs: number,
  nowMs: number,
  staleReason: Extract<NotRunReason, 'no_leader' | 'deadline' | 'clock_step' | 'backend_data_loss'>,
): BacklogPlan {
  const misfire = staleReason === 'backend_data_loss' ? 'skip' : job.misfire;
  const newestFirst: number[] = [];
  let truncated = false;
  if (nowMs > afterMs) {
    // Bounded by `afterMs`: a job without a backlog costs one short search, however sparse its schedule.
    for (const slot of slotsBackFrom(job, nowMs, afterMs)) {
      if (slot <= afterMs) break;
      if (newestFirst.length === MAX_BACKLOG_SLOTS) {
        truncated = true;
        break;
      }
      newestFirst.push(slot);
    }
  }
  const withinDeadline = (slot: number): boolean => nowMs - slot <= job.deadlineMs;
  const run: number[] = [];
  if (misfire === 'run_once') {
    const latest = newestFirst[0];
    if (latest !== undefined && withinDeadline(latest)) run.push(latest);
  } else if (misfire === 'run_all') {
    for (const slot of newestFirst) {
      if (run.length === MAX_RUN_ALL || !withinDeadline(slot)) break;
      run.push(slot);
    }
  }
  const runSet = new Set(run);
  const missedNewestFirst = newestFirst.filter((s) => !runSet.has(s));
  return {
    run: run.reverse(),
    missed: missedNewestFirst.slice(0, Math.max(0, job.history)).reverse(),
    missedCount: missedNewestFirst.length,
    reason: job.misfire === 'skip' && staleReason !== 'backend_data_loss' ? 'misfire_skip' : staleReason,
    newest: newestFirst[0],
    truncated,
  };
}
