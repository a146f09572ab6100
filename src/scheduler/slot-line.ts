/**
 * One job's slots, handled one at a time in slot order, so fencing tokens increase in slot order
 * (DESIGN §1) whatever mix of backlog, late, live and manual slots arrives: each step starts
 * after the previous one settled. A step decides its slot — records it not run, or takes the job
 * lock and writes the slot's record, which is where the token is taken — and, for a catch-up slot,
 * also waits for its run to end. Because steps are taken in order, the job's stored `lastSlot`
 * only ever moves over slots that are all handled: a line cut short (lost lease, resign, shutdown)
 * leaves the rest to the next leader, which plans again from there. Steps must not reject; one
 * that does is swallowed (the step logs its own failures).
 */
export class SlotLine {
  #tail: Promise<void> = Promise.resolve();
  #length = 0;

  /** Runs `step` after every step enqueued before it; resolves when it has settled. */
  enqueue(step: () => Promise<void>): Promise<void> {
    this.#length += 1;
    const settled = this.#tail
      .then(step)
      .catch(() => undefined)
      .finally(() => {
        this.#length -= 1;
      });
    this.#tail = settled;
    return settled;
  }

  /** Steps waiting or in progress. */
  get length(): number {
    return this.#length;
  }
}
