/**
 * Turns per name within one process, first come first served: lockd takes at most one lease per
 * name per backend, so concurrent callers of the same name in one process queue here first.
 */
export class LocalTurns {
  readonly #waiting = new Map<string, Array<() => void>>();

  /**
   * Resolves, once every earlier caller for `name` has let go, the function that lets go
   * (idempotent). Rejects with `signal`'s reason if it aborts first, leaving no trace. With
   * `wait: false`, resolves null at once instead of waiting when `name` is taken.
   */
  async take(name: string, signal: AbortSignal, wait = true): Promise<(() => void) | null> {
    signal.throwIfAborted();
    const waiters = this.#waiting.get(name);
    if (waiters !== undefined && !wait) return null;
    if (waiters === undefined) {
      this.#waiting.set(name, []);
    } else {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          waiters.splice(waiters.indexOf(go), 1);
          reject(signal.reason);
        };
        const go = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        waiters.push(go);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiting.get(name)?.shift();
      if (next) next();
      else this.#waiting.delete(name);
    };
  }
}
