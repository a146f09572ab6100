import type pg from 'pg';
import type { Logger } from 'pino';
import { PushFeed } from '../rows/push-feed.js';
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
}

/**
 * The PostgreSQL change feed: a `PushFeed` on a dedicated connection that LISTENs on the schema's
 * channel and wakes the listeners when a notification for this cluster arrives (NOTIFY is
 * delivered at commit); `SELECT 1` checks it.
 */
export function pgChangeFeed(options: PgChangeFeedOptions): PushFeed {
  const link: PgLink = new PgLink(
    {
      client: options.client,
      timeouts: options.timeouts,
      logger: options.logger,
      onConnect: async (client) => {
        client.on('notification', (message) => {
          if (message.payload === options.cluster) feed.wake();
        });
        await client.query(`LISTEN "${options.channel}"`);
      },
    },
    'listen',
  );
  const feed = new PushFeed({
    check: async () => {
      await link.query('SELECT 1', [], options.deadlineMs, 'listen check');
      return link.generation;
    },
    close: () => link.close(),
    logger: options.logger,
  });
  return feed;
}
