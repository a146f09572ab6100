import type { JobConfig } from '../config/types.js';
import { nextSlot } from './cron-slots.js';
import { planBacklog, type BacklogPlan } from './misfire.js';

type Timing = Pick<JobConfig, 'schedule' | 'timezone'>;
type Backlog = Pick<JobConfig, 'schedule' | 'timezone' | 'misfire' | 'deadlineMs' | 'history'>;

/**
 * The cron maths of one term's start, each answer computed once per distinct question. A start
 * asks the same questions for many jobs: every job's first slot after the same `now`, and every
 * idle job's backlog since the same `lastSlot` (the baseline an earlier term wrote for all of them
 * at once). cron-parser costs 50–100 µs a question (parsing, then luxon), so 10,000 jobs of a few
 * dozen schedules cost a second without this and milliseconds with it; 10,000 distinct schedules
 * cost as much as before. The answers are pure functions of their keys; plans are shared between
 * jobs and must not be modified. Lives for one `start()`: nothing is kept after it.
 */
export class StartMemo {
  readonly #next = new Map<string, number | undefined>();
  readonly #backlogs = new Map<string, BacklogPlan>();

  /** `nextSlot(job, afterMs)`, or undefined when it throws (the caller asks again to report why). */
  next(job: Timing, afterMs: number): number | undefined {
    const key = `${afterMs}\n${job.timezone}\n${job.schedule}`;
    if (this.#next.has(key)) return this.#next.get(key);
    let slot: number | undefined;
    try {
      slot = nextSlot(job, afterMs);
    } catch {
      slot = undefined;
    }
    this.#next.set(key, slot);
    return slot;
  }

  /** `planBacklog(job, afterMs, nowMs, 'no_leader')`; throws as it does (a throw is not remembered). */
  backlog(job: Backlog, afterMs: number, nowMs: number): BacklogPlan {
    const key = `${afterMs}\n${nowMs}\n${job.misfire}\n${job.deadlineMs}\n${job.history}\n${job.timezone}\n${job.schedule}`;
    let plan = this.#backlogs.get(key);
    if (plan === undefined) {
      plan = planBacklog(job, afterMs, nowMs, 'no_leader');
      this.#backlogs.set(key, plan);
    }
    return plan;
  }
}
