/** One job's next slot, keyed by when its timer should fire (slot + jitter). */
export interface SlotEntry {
  job: string;
  /** Epoch ms the cron expression names; the run id uses this. */
  slot: number;
  /** Epoch ms the slot is due: `slot` plus this slot's jitter. */
  fireAt: number;
}

/**
 * Binary min-heap of slot entries ordered by `fireAt` (ties by job name, so the order is
 * deterministic). The scheduler arms one timer for `peek()`, whatever the number of jobs.
 */
export class SlotQueue {
  readonly #heap: SlotEntry[] = [];

  get size(): number {
    return this.#heap.length;
  }

  /** The earliest entry, or undefined when empty. */
  peek(): SlotEntry | undefined {
    return this.#heap[0];
  }

  push(entry: SlotEntry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  /** Removes and returns the earliest entry, or undefined when empty. */
  pop(): SlotEntry | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < heap.length && before(heap[l]!, heap[smallest]!)) smallest = l;
      if (r < heap.length && before(heap[r]!, heap[smallest]!)) smallest = r;
      if (smallest === i) break;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
    return top;
  }

  /** Removes every entry (used when the job set is replaced). */
  clear(): void {
    this.#heap.length = 0;
  }

  /** A snapshot of all entries, in no particular order. */
  entries(): SlotEntry[] {
    return [...this.#heap];
  }
}

function before(a: SlotEntry, b: SlotEntry): boolean {
  return a.fireAt < b.fireAt || (a.fireAt === b.fireAt && a.job < b.job);
}
