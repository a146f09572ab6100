/** A place in a `SerialGate`'s line. */
export interface GateTicket {
  /** Resolves when every earlier ticket has left. Never rejects. */
  readonly turn: Promise<void>;
  /** True when an earlier ticket had not left yet when this one was taken. */
  readonly waited: boolean;
  /** Lets the next ticket go. Idempotent; call it in a `finally`. */
  leave(): void;
}

/**
 * Local first-come-first-served line: each ticket's turn comes when the previous ticket left.
 * Used per job to serialise `overlap: queue` runs, and the brief lock of `overlap: allow`, since a
 * Backend allows one acquire/hold per name at a time.
 */
export class SerialGate {
  #tail: Promise<void> = Promise.resolve();
  #open = 0;

  /** Takes a ticket; the caller waits for `turn` (abortably, if it wants) and must `leave()`. */
  enter(): GateTicket {
    const turn = this.#tail;
    const waited = this.#open > 0;
    let release!: () => void;
    const left = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#open += 1;
    // A ticket that gives up early must still let later ones go only after earlier ones left.
    this.#tail = Promise.all([turn, left]).then(() => undefined);
    let done = false;
    return {
      turn,
      waited,
      leave: () => {
        if (done) return;
        done = true;
        this.#open -= 1;
        release();
      },
    };
  }
}
