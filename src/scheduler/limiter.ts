import { Fifo } from './fifo.js';

/**
 * At most `limit` calls in flight; the others wait in order of arrival. The scheduler's start-up
 * work goes through one so that 10,000 jobs never turn into 10,000 concurrent backend calls: a
 * remote backend stamps each call's deadline when it is issued, so a call queued behind thousands
 * of others fails without ever having been slow itself.
 */
export class Limiter {
  readonly #limit: number;
  #active = 0;
  readonly #waiting = new Fifo<() => void>();

  /** `limit` is at least 1. */
  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Calls `fn` once fewer than `limit` calls are in flight; settles as `fn()` does. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active < this.#limit) this.#active += 1;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await fn();
    } finally {
      this.#next();
    }
  }

  /** Hands the finished call's place to the oldest waiter, or frees it. */
  #next(): void {
    const waiter = this.#waiting.shift();
    if (waiter === undefined) {
      this.#active -= 1;
      return;
    }
    waiter();
  }
}
