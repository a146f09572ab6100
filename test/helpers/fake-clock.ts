import type { Clock } from '../../src/clock.js';

interface PendingTimer {
  id: number;
  /** Monotonic ms at which it fires. */
  due: number;
  fn: () => void;
}

/** Lets every promise chain that does not wait on a real macrotask run to completion. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A manual clock for unit tests. Nothing moves until `advance`: it moves both clocks together and
 * fires due timers in order (ties in creation order), letting promise chains settle after each one
 * so async work started by a timer completes before the next fires. `stepWall` moves only the wall
 * clock (an NTP step); timers follow the monotonic clock, as Node's do.
 */
export class FakeClock implements Clock {
  #wall: number;
  #mono = 1_000_000;
  #seq = 0;
  readonly #timers = new Map<number, PendingTimer>();

  constructor(startWallMs: number) {
    this.#wall = startWallMs;
  }

  now(): number {
    return this.#wall;
  }

  monotonic(): number {
    return this.#mono;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const id = ++this.#seq;
    this.#timers.set(id, { id, due: this.#mono + Math.max(0, ms), fn });
    return () => {
      this.#timers.delete(id);
    };
  }

  /** Number of timers armed and not yet fired or cancelled. */
  pendingTimers(): number {
    return this.#timers.size;
  }

  /** Monotonic delays from now of the armed timers, ascending. */
  pendingDelays(): number[] {
    return [...this.#timers.values()].map((t) => t.due - this.#mono).sort((a, b) => a - b);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due (including ones armed by fired
   * timers), each at its own instant. `onFire` runs after each timer has settled.
   */
  async advance(ms: number, onFire?: () => void): Promise<void> {
    const target = this.#mono + ms;
    await settle();
    for (;;) {
      const next = this.#earliest();
      if (!next || next.due > target) break;
      this.#moveTo(next.due);
      this.#timers.delete(next.id);
      next.fn();
      await settle();
      onFire?.();
    }
    this.#moveTo(target);
    await settle();
  }

  /** Advances to the wall time `wallMs` (must not be in the past). */
  async advanceTo(wallMs: number): Promise<void> {
    if (wallMs < this.#wall) throw new Error(`advanceTo: ${wallMs} is before now ${this.#wall}`);
    await this.advance(wallMs - this.#wall);
  }

  /**
   * A pause of this process (SIGSTOP, a starved loop): both clocks move by `ms` and no timer fires;
   * the overdue ones fire, late, at the next `advance`.
   */
  freeze(ms: number): void {
    this.#wall += ms;
    this.#mono += ms;
  }

  /** Steps the wall clock only (e.g. NTP); armed timers keep their monotonic deadlines. */
  stepWall(deltaMs: number): void {
    this.#wall += deltaMs;
  }

  #earliest(): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const t of this.#timers.values()) {
      if (!best || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    }
    return best;
  }

  #moveTo(mono: number): void {
    // A timer overdue after `freeze` fires now, late; time never runs backwards.
    if (mono <= this.#mono) return;
    this.#wall += mono - this.#mono;
    this.#mono = mono;
  }
}
