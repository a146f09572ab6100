import { Fifo } from './fifo.js';

/** The longest stretch of paced work the event loop runs before it gets a turn (timers, I/O). */
export const PACED_SLICE_MS = 10;

/**
 * Shares the event loop between a burst of slot work and what must happen on time meanwhile: the
 * session's keep-alives (etcd at TTL 2 s vouches for 1 s after the last acknowledged one), the
 * watchdog's deadlines, the log. 500 jobs due in the same second were handled in one synchronous
 * stretch of over a second (each slot's lock call set up, then each child spawned as the lock
 * answers came in, hundreds per socket read): the keep-alive timer could not fire and the leader
 * lost its lease to its own burst.
 *
 * Each piece of slot work that can come by the hundred (a slot's first step, an attempt's spawn)
 * awaits `turn()` first. Callers pass one at a time, in call order: the next is let through only
 * after the previous one's continuation has run its synchronous part (up to its next await), and
 * once a stretch of passes has lasted `PACED_SLICE_MS` on the monotonic clock `now` (the
 * scheduler's: a test's fake clock does not move during synchronous work, so there it never
 * yields), the next waits for a turn of the event loop (`setImmediate`: timers and I/O run
 * first). A lone caller passes after two microtask hops, never a timer: with nothing else waiting
 * it is not delayed.
 */
export class Pacer {
  readonly #waiting = new Fifo<() => void>();
  #draining = false;
  #since = 0;

  constructor(private readonly now: () => number) {}

  /** Resolves when it is this caller's turn; never rejects. */
  turn(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#waiting.push(resolve);
      if (this.#draining) return;
      this.#draining = true;
      this.#since = this.now();
      queueMicrotask(() => this.#passOne());
    });
  }

  /** Callers waiting (for tests). */
  get waiting(): number {
    return this.#waiting.size;
  }

  #passOne(): void {
    const next = this.#waiting.shift();
    if (next === undefined) {
      this.#draining = false;
      return;
    }
    // Resolving queues the caller's continuation; this `then` is queued behind it, so it runs
    // once that continuation has done its synchronous work.
    next();
    void Promise.resolve().then(() => this.#afterOne());
  }

  #afterOne(): void {
    if (this.now() - this.#since < PACED_SLICE_MS) {
      this.#passOne();
      return;
    }
    setImmediate(() => {
      this.#since = this.now();
      this.#passOne();
    });
  }
}
