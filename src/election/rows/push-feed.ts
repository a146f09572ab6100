import type { Logger } from 'pino';
import { monotonicMs } from '../../clock.js';
import { PacedTicker, type FeedPace } from './paced-ticker.js';
import type { ChangeFeed } from './row-store.js';

/** What a store that pushes change notifications (NOTIFY, pub/sub) gives its feed. */
export interface PushFeedOptions {
  /**
   * Makes sure the notification connection is up (connecting it if need be) and resolves its
   * generation: how many connections it has made. A new one means notifications may have been
   * missed. May reject; the feed polls until it is back.
   */
  check(): Promise<number>;
  /** Closes the notification connection. */
  close(): void;
  logger: Logger;
  /** Ticks for waits that are due at a time, while someone waits for a turn; default 100 ms. */
  tickMs?: number;
  /**
   * Every this often listeners are told to look even without a notification: NOTIFY and pub/sub
   * messages are lost while the connection is down, and a lost one must not stall a waiter.
   * Default 1000 ms.
   */
  fallbackMs?: number;
}

/**
 * The change feed of a store that pushes notifications on a connection of its own: `wake()`
 * (called by that connection on each notification for this cluster) has every listener look,
 * at once and coalesced; a tick serves time-based waits; a fallback look every `fallbackMs`
 * also checks the connection, and a reconnect counts as a change. Runs only while someone listens;
 * with only prefix watches (no waiter) it ticks only for the fallback.
 */
export class PushFeed implements ChangeFeed {
  private readonly listeners = new Set<(changed: boolean) => void>();
  private readonly ticker: PacedTicker;
  private wakePending = false;
  private lastFallback = -Infinity;
  private generation = 0;
  private readonly fallbackMs: number;

  constructor(private readonly options: PushFeedOptions) {
    this.fallbackMs = options.fallbackMs ?? 1000;
    this.ticker = new PacedTicker(() => this.tick(), { turn: options.tickMs ?? 100, watch: this.fallbackMs });
  }

  subscribe(listener: (changed: boolean) => void, pace: FeedPace = 'turn'): () => void {
    const entry = (changed: boolean): void => listener(changed);
    const first = !this.ticker.running;
    this.listeners.add(entry);
    this.ticker.add(pace);
    if (first) this.check();
    return () => {
      if (this.listeners.delete(entry)) this.ticker.remove(pace);
    };
  }

  stop(): void {
    this.ticker.stop();
    this.listeners.clear();
    this.options.close();
  }

  /** A notification arrived: every listener looks, once, soon. */
  wake(): void {
    if (this.wakePending) return;
    this.wakePending = true;
    setImmediate(() => {
      this.wakePending = false;
      this.emit(true);
    });
  }

  private tick(): void {
    // Without a waiter every tick is a fallback tick (they come every fallbackMs).
    if (!this.ticker.serving || monotonicMs() - this.lastFallback >= this.fallbackMs) {
      this.check();
      this.emit(true);
    } else {
      this.emit(false);
    }
  }

  private check(): void {
    this.lastFallback = monotonicMs();
    this.options.check().then(
      (generation) => {
        if (generation !== this.generation) {
          this.generation = generation;
          this.wake();
        }
      },
      (err: Error) => this.options.logger.debug({ err: err.message }, 'notification connection check failed; polling until it is back'),
    );
  }

  private emit(changed: boolean): void {
    for (const listener of [...this.listeners]) listener(changed);
  }
}
