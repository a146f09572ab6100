import { runKey, runsPrefix } from './records.js';
import type { SchedulerContext } from './scheduler-options.js';

/**
 * Keeps one job's run records (`runs/<job>/`) to its newest `history` (DESIGN §5), so a job
 * every second does not grow the backend forever. Stops as soon as the leader lease is no longer
 * valid (resign, loss), so shutdown never waits on it. Lists the prefix once, then tracks the records
 * this scheduler creates in memory; re-lists after a failure. Never throws: failures are logged.
 */
export class RecordPruner {
  readonly #ctx: SchedulerContext;
  readonly #job: string;
  /** Slots with a record, ascending; undefined until listed. */
  #known: number[] | undefined;
  #running: Promise<void> | undefined;
  #dirty = false;

  constructor(ctx: SchedulerContext, job: string) {
    this.#ctx = ctx;
    this.#job = job;
  }

  /** A record for `slot` now exists. */
  note(slot: number): void {
    if (this.#known) insertSorted(this.#known, slot);
  }

  /**
   * Deletes the oldest records beyond `history`, never one whose slot is in `busy()` (a run still
   * writing it). Waits for `after` first (the job-state write, so `lastSlot` covers what goes).
   * Calls during a prune coalesce into one more pass.
   */
  prune(history: number, busy: () => Set<number>, after: Promise<void> | undefined): void {
    this.#dirty = true;
    this.#running ??= this.#loop(history, busy, after).finally(() => {
      this.#running = undefined;
    });
  }

  /** True while a prune is in progress. */
  get active(): boolean {
    return this.#running !== undefined;
  }

  /** Resolves when no prune is in progress. */
  async settled(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #loop(history: number, busy: () => Set<number>, after: Promise<void> | undefined): Promise<void> {
    await after;
    while (this.#dirty) {
      this.#dirty = false;
      try {
        this.#known ??= await this.#list();
        const known = this.#known;
        const skip = busy();
        let excess = known.length - Math.max(1, history);
        // Only a leader prunes: after a resign or a loss the next leader owns the records.
        for (let i = 0; excess > 0 && i < known.length && this.#ctx.leader.isValid(); ) {
          const slot = known[i]!;
          if (skip.has(slot)) {
            i += 1;
            continue;
          }
          await this.#ctx.backend.delete(runKey(this.#job, slot));
          known.splice(i, 1);
          excess -= 1;
        }
      } catch (err) {
        this.#known = undefined;
        this.#ctx.logger.warn({ err, job: this.#job }, 'could not prune run records');
        return;
      }
    }
  }

  async #list(): Promise<number[]> {
    const prefix = runsPrefix(this.#job);
    const rows = await this.#ctx.backend.list(prefix);
    return rows
      .map((r) => Number(r.key.slice(prefix.length)))
      .filter((n) => Number.isFinite(n))
      .sort((a, b) => a - b);
  }
}

function insertSorted(list: number[], value: number): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  if (list[lo] !== value) list.splice(lo, 0, value);
}
