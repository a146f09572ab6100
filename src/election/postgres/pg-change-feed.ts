import type pg from 'pg';
import type { Logger } from 'pino';
import { monotonicMs } from '../../clock.js';
import type { ChangeFeed } from '../rows/row-store.js';
import { PgLink, type PgSessionTimeouts } from './pg-link.js';

/** What the feed needs to LISTEN. */
export interface PgChangeFeedOptions {
  client: pg.ClientConfig;
  timeouts: PgSessionTimeouts;
  channel: string;
  cluster: string;
  logger: Logger;
  /** Deadline of the LISTEN connection's checks. */
  deadlineMs: number;
  /** Ticks for waits that are due at a time; default 100 ms. */
  tickMs?: number;
  /**
   * Every this often listeners are told to look even without a notification: NOTIFY is lost
   * while the LISTEN connection is down, and a lost one must not stall a waiter. Default 1000 ms.
   */
  fallbackMs?: number;
}

/**
 * The PostgreSQL change feed: a dedicated connection that LISTENs on the schema's channel and
 * wakes the listeners (at once, coalesced) when a notification for this cluster arrives; a tick
 * for time-based waits; a fallback look every `fallbackMs`, which also checks the connection and
 * reconnects it. A reconnect counts as a change (notifications may have been missed meanwhile).
 */
export class PgChangeFeed implements ChangeFeed {
  private readonly listeners = new Set<(changed: boolean) => void>();
  private readonly link: PgLink;
  private timer: NodeJS.Timeout | undefined;
  private wakePending = false;
  private lastFallback = -Infinity;
  private generation = 0;
  private readonly tickMs: number;
  private readonly fallbackMs: number;

  constructor(private readonly options: PgChangeFeedOptions) {
    this.tickMs = options.tickMs ?? 100;
    this.fallbackMs = options.fallbackMs ?? 1000;
    this.link = new PgLink(
      {
        client: options.client,
        timeouts: options.timeouts,
        logger: options.logger,
        onConnect: async (client) => {
          client.on('notification', (message) => {
            if (message.payload === options.cluster) this.wake();
          });
          await client.query(`LISTEN "${options.channel}"`);
        },
      },
      'listen',
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

  /** A notification arrived: every listener looks, once, soon. */
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

  /** Makes sure the LISTEN connection is up; a new one means notifications may have been missed. */
  private check(): void {
    this.lastFallback = monotonicMs();
    this.link.query('SELECT 1', [], this.options.deadlineMs, 'listen check').then(
      () => {
        if (this.link.generation !== this.generation) {
          this.generation = this.link.generation;
          this.wake();
        }
      },
      (err: Error) => this.options.logger.debug({ err: err.message }, 'LISTEN connection check failed; polling until it is back'),
    );
  }

  private emit(changed: boolean): void {
    for (const listener of [...this.listeners]) listener(changed);
  }
}
