/**
 * One timer per backend that notices database changes for every waiter and watcher: each tick
 * reads a version number that changes after any commit (`PRAGMA data_version` plus our own
 * writes), so a tick where nothing happened costs one tiny read. Runs only while someone listens.
 */
export class ChangePoller {
  private readonly listeners = new Set<(changed: boolean) => void>();
  private timer: NodeJS.Timeout | undefined;
  private lastVersion: number | undefined;

  constructor(
    private readonly readVersion: () => number,
    private readonly intervalMs: number,
  ) {}

  /**
   * Calls `listener(changed)` on every tick; `changed` is true when the database may have changed
   * since the previous tick. Listeners must not throw. Returns the unsubscribe function.
   */
  subscribe(listener: (changed: boolean) => void): () => void {
    this.listeners.add(listener);
    this.timer ??= setInterval(() => this.tick(), this.intervalMs);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Stops ticking and forgets every listener. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.lastVersion = undefined;
    this.listeners.clear();
  }

  private tick(): void {
    let changed = true;
    try {
      const version = this.readVersion();
      changed = version !== this.lastVersion;
      this.lastVersion = version;
    } catch {
      // Let every listener look: its own read then meets (and reports) the same failure.
    }
    for (const listener of [...this.listeners]) listener(changed);
  }
}
