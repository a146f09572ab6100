import type { Logger } from 'pino';
import { PushFeed } from '../rows/push-feed.js';
import { RedisLink, type RedisConnectOptions } from './redis-link.js';

/** What the feed needs to SUBSCRIBE. */
export interface RedisChangeFeedOptions {
  connect: Omit<RedisConnectOptions, 'onConnect'>;
  /** The cluster's channel (`lockd:{<cluster>}:ev`). */
  channel: string;
  logger: Logger;
  /** Deadline of the subscriber connection's checks. */
  deadlineMs: number;
}

/**
 * The Redis change feed: a `PushFeed` on a dedicated connection SUBSCRIBEd to the cluster's
 * channel, waking the listeners on every message (pub/sub is fire and forget: the feed's fallback
 * covers what a down connection missed); PING checks it.
 */
export function redisChangeFeed(options: RedisChangeFeedOptions): PushFeed {
  const link: RedisLink = new RedisLink({ ...options.connect, onConnect: (client) => client.subscribe(options.channel, () => feed.wake()) }, 'subscribe');
  const feed = new PushFeed({
    check: async () => {
      await link.call(['PING'], options.deadlineMs, 'subscriber check');
      return link.generation;
    },
    close: () => link.close(),
    logger: options.logger,
  });
  return feed;
}
