import { PacedTicker, type FeedPace } from '../rows/paced-ticker.js';

/** The slowest look a prefix watch gets (ms): a `lockd trigger` or `resign` waits at most this long to be seen. */
const WATCH_POLL_MS = 250;

/**
 * One timer per backend that notices database changes for every waiter and watcher: each tick
 * reads a version number that changes after any commit (`PRAGMA data_version` plus our own
 * writes), so a tick where nothing happened costs one tiny read. Runs only while someone listens:
 * every `intervalMs` while someone waits for a turn, else (only prefix watches) every 250 ms.
 */
export class ChangePoller {
  private readonly listeners = new Set<(changed: boolean) => void>();
  private readonly ticker: PacedTicker;
  private lastVersion: number | undefined;

  constructor(
    private readonly readVersion: () => number,
    intervalMs: number,
  ) {
    this.ticker = new PacedTicker(() => this.tick(), { turn: intervalMs, watch: Math.max(intervalMs, WATCH_POLL_MS) });
  }

  /**
   * Calls `listener(changed)` on every tick; `changed` is true when the database may have changed
   * since the previous tick. Listeners must not throw. Returns the unsubscribe function.
   */
  subscribe(listener: (changed: boolean) => void, pace: FeedPace = 'turn'): () => void {
    const entry = (changed: boolean): void => listener(changed);
    this.listeners.add(entry);
    this.ticker.add(pace);
    return () => {
      if (!this.listeners.delete(entry)) return;
      this.ticker.remove(pace);
      if (this.listeners.size === 0) this.lastVersion = undefined;
    };
  }

  /** Stops ticking and forgets every listener. */
  stop(): void {
    this.ticker.stop();
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
