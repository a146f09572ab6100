/**
 * Time as the scheduler sees it, injectable so tests drive it. Wall time (`now`) names slots;
 * `monotonic` measures lease deadlines and is immune to clock steps.
 */
export interface Clock {
  /** Epoch milliseconds (wall clock). */
  now(): number;
  /** Milliseconds on a monotonic clock (the system's: `monotonicMs()`; a test's fake otherwise). */
  monotonic(): number;
  /** Calls `fn` once after `ms` (clamped to >= 0). Returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
}

/**
 * Milliseconds on CLOCK_MONOTONIC. libuv reads it with clock_gettime(CLOCK_MONOTONIC), which on
 * Linux is one clock for the whole machine, so an instant measured by one process (a lease's kill
 * deadline, an embedded row's expiry) means the same instant to every other process on the host
 * (the watchdog, another replica), and a wall-clock step moves none of them. Never fails.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

/** Node's clocks and timers. Long delays are chained, since setTimeout caps at ~24.8 days. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: monotonicMs,
  setTimer(ms, fn) {
    const maxDelay = 2 ** 31 - 1;
    let handle: NodeJS.Timeout;
    const arm = (remaining: number): void => {
      const step = Math.min(Math.max(0, remaining), maxDelay);
      handle = setTimeout(() => (remaining > maxDelay ? arm(remaining - maxDelay) : fn()), step);
    };
    arm(ms);
    return () => clearTimeout(handle);
  },
};
