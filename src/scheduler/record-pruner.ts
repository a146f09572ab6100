import { runsPrefix, slotOfRunKey } from './records.js';
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
  /** Keys of the job's records, oldest slot first; undefined until listed. */
  #known: Array<{ slot: number; key: string }> | undefined;
  #running: Promise<void> | undefined;
  #dirty = false;

  constructor(ctx: SchedulerContext, job: string) {
    this.#ctx = ctx;
    this.#job = job;
  }

  /** A record now exists at `key` (a key below `runs/<job>/`). */
  note(key: string): void {
    if (this.#known) insertSorted(this.#known, { slot: slotOfRunKey(key.slice(runsPrefix(this.#job).length)), key });
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
          const { slot, key } = known[i]!;
          if (skip.has(slot)) {
            i += 1;
            continue;
          }
          await this.#ctx.backend.delete(key);
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

  async #list(): Promise<Array<{ slot: number; key: string }>> {
    const prefix = runsPrefix(this.#job);
    const rows = await this.#ctx.backend.list(prefix);
    return rows
      .map((r) => ({ slot: slotOfRunKey(r.key.slice(prefix.length)), key: r.key }))
      .filter((r) => Number.isFinite(r.slot))
      .sort(bySlotThenKey);
  }
}

function bySlotThenKey(a: { slot: number; key: string }, b: { slot: number; key: string }): number {
  return a.slot - b.slot || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

function insertSorted(list: Array<{ slot: number; key: string }>, value: { slot: number; key: string }): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bySlotThenKey(list[mid]!, value) < 0) lo = mid + 1;
    else hi = mid;
  }
  if (list[lo]?.key !== value.key) list.splice(lo, 0, value);
}
