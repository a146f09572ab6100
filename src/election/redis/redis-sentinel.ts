import { createClient } from 'redis';
import type { Logger } from 'pino';
import { BackendUnavailableError } from '../../errors.js';
import { destroyClient, type RedisRawClient } from './redis-link.js';

/** A data node's address as the sentinels report it. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** Which primary to ask for, and whom. */
export interface SentinelLocatorOptions {
  /** The master name of `sentinel monitor <name> ...`. */
  master: string;
  /** The sentinels, asked in turn, starting with the one that answered last. */
  nodes: readonly RedisAddress[];
  /** Connect (and answer) timeout of each sentinel. */
  connectTimeoutMs: number;
  logger: Logger;
}

/**
 * Finds the current primary by `SENTINEL get-master-addr-by-name`, asking one sentinel at a time
 * (at most one round over `nodes`) on a short-lived connection of its own, with node-redis's
 * offline queue off and no reconnect, so nothing is ever retried behind lockd's back. node-redis's
 * own Sentinel client is not used: it reconnects and re-routes by itself, which would take the
 * connection's lifetime out of RedisLink's hands.
 *
 * Connects that start while a lookup runs share it (a backend's links all connect at once when it
 * opens or after a failover); no connect reuses an answer that arrived before it started. A lookup
 * takes at most `nodes.length × connectTimeoutMs`; a caller with a shorter deadline races it.
 *
 * The answer is only a hint (a sentinel may not have noticed a failover yet): the caller checks
 * ROLE on the node it connects to. Rejects with `BackendUnavailableError` (retryable) when no
 * sentinel names a primary.
 */
export function sentinelLocator(options: SentinelLocatorOptions): () => Promise<RedisAddress> {
  let next = 0;
  let running: Promise<RedisAddress> | undefined;
  const lookup = async (): Promise<RedisAddress> => {
    const problems: string[] = [];
    for (let i = 0; i < options.nodes.length; i++) {
      const index = (next + i) % options.nodes.length;
      const node = options.nodes[index] as RedisAddress;
      try {
        const primary = await askSentinel(node, options);
        if (primary !== undefined) {
          next = index;
          return primary;
        }
        problems.push(`${node.host}:${node.port} knows no master "${options.master}"`);
      } catch (err) {
        problems.push(`${node.host}:${node.port}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    options.logger.debug({ problems }, 'no sentinel named a primary');
    throw new BackendUnavailableError(`redis backend: no sentinel named a primary for "${options.master}" (${problems.join('; ')})`);
  };
  return () => {
    running ??= lookup().finally(() => {
      running = undefined;
    });
    return running;
  };
}

/** One sentinel's answer: the primary's address, or undefined when it does not monitor `master`. */
async function askSentinel(node: RedisAddress, options: SentinelLocatorOptions): Promise<RedisAddress | undefined> {
  const client = createClient({
    RESP: 2,
    disableOfflineQueue: true,
    // CLIENT SETINFO would only cost a round trip (and sentinels before 7.2 refuse it).
    disableClientInfo: true,
    socket: { host: node.host, port: node.port, connectTimeout: options.connectTimeoutMs, reconnectStrategy: false, noDelay: true },
  }) as unknown as RedisRawClient;
  client.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
  });
  try {
    const ask = async (): Promise<unknown> => {
      await client.connect();
      return client.sendCommand(['SENTINEL', 'get-master-addr-by-name', options.master]);
    };
    const reply = await Promise.race([ask(), deadline]);
    if (reply === null) return undefined;
    const [host, port] = Array.isArray(reply) ? (reply as unknown[]) : [];
    if (typeof host !== 'string' || !/^\d+$/.test(String(port))) throw new Error(`unexpected answer ${JSON.stringify(reply)}`);
    return { host, port: Number(port) };
  } finally {
    clearTimeout(timer);
    destroyClient(client);
  }
}
