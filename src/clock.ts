/**
 * Time as the scheduler sees it, injectable so tests drive it. Wall time (`now`) names slots;
 * `monotonic` measures lease deadlines and is immune to clock steps.
 */
export interface Clock {
  /** Epoch milliseconds (wall clock). */
  now(): number;
  /** Milliseconds on a monotonic clock with an arbitrary origin. */
  monotonic(): number;
  /** Calls `fn` once after `ms` (clamped to >= 0). Returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** Node's clocks and timers. Long delays are chained, since setTimeout caps at ~24.8 days. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
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
