import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Cuts a long synchronous loop (planning or re-planning thousands of jobs) into slices of at most
 * `sliceMs` of the monotonic clock, so keep-alives and the watchdog's deadlines still go out:
 * `if (slice.over()) await slice.yield();` after each item. `over()` is synchronous, so a loop
 * that stays within its slice never awaits.
 */
export class LoopSlice {
  #since = performance.now();

  constructor(private readonly sliceMs: number) {}

  /** Whether this slice has lasted longer than `sliceMs`. */
  over(): boolean {
    return performance.now() - this.#since > this.sliceMs;
  }

  /** Gives the event loop a turn (timers and I/O run first), then starts a new slice. */
  async yield(): Promise<void> {
    await nextTurn();
    this.#since = performance.now();
  }
}
