import type { Clock } from '../clock.js';

/** A wall-clock step smaller than this is drift or timer lateness, not a step. */
export const CLOCK_STEP_THRESHOLD_MS = 1000;

/**
 * Notices wall-clock steps (NTP corrections, a VM resumed with a stale clock, an operator's
 * `date -s`): between two looks the wall clock should move as far as the monotonic clock does;
 * the difference is the step (positive: the wall clock jumped forward). Looks cost two clock reads.
 */
export class ClockWatch {
  #wall: number;
  #mono: number;

  constructor(private readonly clock: Clock) {
    this.#wall = clock.now();
    this.#mono = clock.monotonic();
  }

  /**
   * Looks at both clocks: returns the step since the last look in ms (0 below
   * `CLOCK_STEP_THRESHOLD_MS`), and measures the next look from now.
   */
  check(): number {
    const wall = this.clock.now();
    const mono = this.clock.monotonic();
    const step = wall - this.#wall - (mono - this.#mono);
    this.#wall = wall;
    this.#mono = mono;
    return Math.abs(step) >= CLOCK_STEP_THRESHOLD_MS ? step : 0;
  }
}
