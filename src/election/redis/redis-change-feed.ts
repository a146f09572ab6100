import type { Logger } from 'pino';
import { monotonicMs } from '../../clock.js';
import type { ChangeFeed } from '../rows/row-store.js';
import { RedisLink, type RedisConnectOptions } from './redis-link.js';

/** What the feed needs to SUBSCRIBE. */
export interface RedisChangeFeedOptions {
  connect: Omit<RedisConnectOptions, 'onConnect'>;
  /** The cluster's channel (`lockd:{<cluster>}:ev`). */
  channel: string;
  logger: Logger;
  /** Deadline of the subscriber connection's checks. */
  deadlineMs: number;
  /** Ticks for waits that are due at a time; default 100 ms. */
  tickMs?: number;
  /**
   * Every this often listeners are told to look even without a message: pub/sub is fire and
   * forget (lost while the subscriber is down), and a lost message must not stall a waiter.
   * Default 1000 ms.
   */
  fallbackMs?: number;
}

/**
 * The Redis change feed, as pg-change-feed.ts: a dedicated connection SUBSCRIBEd to the cluster's
 * channel wakes the listeners (at once, coalesced) on every message; a tick for time-based waits;
 * a fallback look every `fallbackMs`, which also PINGs the subscriber connection and reconnects
 * it. A reconnect counts as a change (messages may have been missed meanwhile).
 */
export class RedisChangeFeed implements ChangeFeed {
  private readonly listeners = new Set<(changed: boolean) => void>();
  private readonly link: RedisLink;
  private timer: NodeJS.Timeout | undefined;
  private wakePending = false;
  private lastFallback = -Infinity;
  private generation = 0;
  private readonly tickMs: number;
  private readonly fallbackMs: number;

  constructor(private readonly options: RedisChangeFeedOptions) {
    this.tickMs = options.tickMs ?? 100;
    this.fallbackMs = options.fallbackMs ?? 1000;
    this.link = new RedisLink(
      {
        ...options.connect,
        onConnect: (client) => client.subscribe(options.channel, () => this.wake()),
      },
      'subscribe',
    );
  }

  subscribe(listener: (changed: boolean) => void): () => void {
    this.listeners.add(listener);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.check();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.pause();
    };
  }

  stop(): void {
    this.pause();
    this.listeners.clear();
    this.link.close();
  }

  private pause(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A message arrived: every listener looks, once, soon. */
  private wake(): void {
    if (this.wakePending) return;
    this.wakePending = true;
    setImmediate(() => {
      this.wakePending = false;
      this.emit(true);
    });
  }

  private tick(): void {
    if (monotonicMs() - this.lastFallback >= this.fallbackMs) {
      this.check();
      this.emit(true);
    } else {
      this.emit(false);
    }
  }

  /** Makes sure the subscriber connection is up; a new one means messages may have been missed. */
  private check(): void {
    this.lastFallback = monotonicMs();
    this.link.call(['PING'], this.options.deadlineMs, 'subscriber check').then(
      () => {
        if (this.link.generation !== this.generation) {
          this.generation = this.link.generation;
          this.wake();
        }
      },
      (err: Error) => this.options.logger.debug({ err: err.message }, 'subscriber connection check failed; polling until it is back'),
    );
  }

  private emit(changed: boolean): void {
    for (const listener of [...this.listeners]) listener(changed);
  }
}
