import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { JobConfig } from '../config/types.js';
import { nextSlot } from './cron-slots.js';
import { SlotQueue, type SlotEntry } from './slot-queue.js';

/**
 * The timer is re-armed at least this often, so a wall-clock step forward delays a slot by at most
 * this much (Node's timers run on the monotonic clock and would not notice the step).
 */
export const MAX_TIMER_MS = 60_000;

/**
 * One fire handles due entries for at most this long (monotonic clock), then leaves the rest to a
 * timer of 0 ms: 500 jobs due at once are cron maths and slot set-up by the millisecond each, and
 * the keep-alive timers must get their turn in between.
 */
export const FIRE_SLICE_MS = 5;

/**
 * One timer for the earliest due slot across all jobs (DESIGN §4: never a poll per job or per
 * second). Holds each job's next slot in a min-heap keyed by fire time (slot + jitter); when the
 * timer fires, `onDue` is called for every entry due by then, earliest first (for at most
 * `FIRE_SLICE_MS`, then again at once after the event loop's turn), and the timer is re-armed for
 * the new earliest. `onDue` is expected to `schedule` the job's following slot.
 */
export class SlotTimer {
  readonly #queue = new SlotQueue();
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #onDue: (entry: SlotEntry, now: number) => void;
  readonly #onFire: ((now: number) => boolean) | undefined;
  #cancel: (() => void) | undefined;
  #stopped = false;

  /**
   * `onFire(now)` runs first at every fire; when it returns false nothing is handled and the timer
   * is not re-armed: the owner calls `fireNow()` when it is ready (a clock step being checked).
   */
  constructor(opts: { clock: Clock; random: () => number; logger: Logger; onDue: (entry: SlotEntry, now: number) => void; onFire?: (now: number) => boolean }) {
    this.#clock = opts.clock;
    this.#random = opts.random;
    this.#logger = opts.logger;
    this.#onDue = opts.onDue;
    this.#onFire = opts.onFire;
  }

  /**
   * Queues `job`'s first slot after `afterMs` with a fresh jitter in [0, jitterMs). A job whose
   * expression has no further slot is logged and left out. Call `arm()` afterwards. `knownNext`:
   * that slot, when the caller has just computed it (cron maths costs up to a millisecond).
   */
  schedule(job: Pick<JobConfig, 'name' | 'schedule' | 'timezone' | 'jitterMs'>, afterMs: number, knownNext?: number): void {
    let slot: number;
    try {
      slot = knownNext ?? nextSlot(job, afterMs);
    } catch (err) {
      this.#logger.error({ err, job: job.name }, 'job has no next slot; not scheduled');
      return;
    }
    const jitter = job.jitterMs > 0 ? Math.floor(this.#random() * job.jitterMs) : 0;
    this.#queue.push({ job: job.name, slot, fireAt: slot + jitter });
  }

  /** Re-queues an entry as it was (a job whose timing did not change). */
  keep(entry: SlotEntry): void {
    this.#queue.push(entry);
  }

  /** Removes and returns every queued entry. */
  drain(): SlotEntry[] {
    const all = this.#queue.entries();
    this.#queue.clear();
    return all;
  }

  /** (Re-)arms the one timer for the earliest entry; a no-op after `stop()`. */
  arm(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    const first = this.#queue.peek();
    if (this.#stopped || !first) return;
    const delay = Math.min(Math.max(0, first.fireAt - this.#clock.now()), MAX_TIMER_MS);
    this.#cancel = this.#clock.setTimer(delay, () => this.#fire());
  }

  /** Cancels the timer and forgets every entry, for good. Idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
    this.#queue.clear();
  }

  /** Fires now, as if the timer had: for a clock step noticed elsewhere, or after `onFire` held a fire. */
  fireNow(): void {
    this.#cancel?.();
    this.#fire();
  }

  #fire(): void {
    this.#cancel = undefined;
    if (this.#stopped) return;
    // Fired early (wall clock stepped back) or at the re-arm cap: nothing may be due; just re-arm.
    const now = this.#clock.now();
    if (this.#onFire !== undefined && !this.#onFire(now)) return;
    const sliceEnds = this.#clock.monotonic() + FIRE_SLICE_MS;
    for (let e = this.#queue.peek(); e && e.fireAt <= now && !this.#stopped; e = this.#queue.peek()) {
      this.#queue.pop();
      this.#onDue(e, now);
      // The rest are still due: `arm()` below fires again at once, after timers and I/O.
      if (this.#clock.monotonic() >= sliceEnds) break;
    }
    this.arm();
  }
}
