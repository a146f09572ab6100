import { createClient, ErrorReply } from 'redis';
import type { Logger } from 'pino';
import { BackendStorageError, BackendUnavailableError } from '../../errors.js';
import { keepsConnection, translateRedisError } from './redis-errors.js';
import type { LuaScript } from './redis-scripts.js';

/** What lockd uses of a node-redis client (RESP2 replies: strings, numbers, arrays, null). */
export interface RedisRawClient {
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  destroy(): void;
  on(event: 'error' | 'end', listener: (err?: Error) => void): unknown;
}

/** How every connection of the backend is opened. */
export interface RedisConnectOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` (TLS). */
  url: string;
  /** `CLIENT SETNAME` of each connection: `lockd/<cluster>/<node>`. */
  clientName: string;
  connectTimeoutMs: number;
  /** Runs on each new connection before its first call (SUBSCRIBE); may throw lockd errors. */
  onConnect?: (client: RedisRawClient) => Promise<void>;
  logger: Logger;
}

/**
 * One Redis connection that lockd's own deadlines govern, with the contract of pg-link.ts: it
 * connects on first use (and refuses a replica with `BackendStorageError`), every call races a
 * deadline (covering the connect and the wait behind earlier calls), and a connection whose call
 * timed out or failed at the transport is destroyed and replaced on the next call. The node-redis
 * client is set up so that it never acts on its own: RESP2, `disableOfflineQueue` (a call while
 * disconnected fails at once), no reconnect strategy (a lost socket closes the client and fails
 * every call on it, so nothing is ever sent twice), no ping, no socket timeout. `generation`
 * counts connections made, so a caller can tell a reconnect happened (a published change may
 * have been missed; the server may have restarted and lost renewals).
 */
export class RedisLink {
  private client: RedisRawClient | undefined;
  private connecting: Promise<RedisRawClient> | undefined;
  private closed = false;
  /** Calls started and not yet settled, to spread calls over several links. */
  inFlight = 0;
  generation = 0;

  constructor(
    private readonly options: RedisConnectOptions,
    private readonly label: string,
  ) {}

  /** Runs one command; see `script` for the errors. */
  call(args: string[], deadlineMs: number, what: string): Promise<unknown> {
    return this.run((client) => client.sendCommand(args), deadlineMs, what);
  }

  /**
   * Runs `script` by EVALSHA, and by EVAL when the server's script cache lacks it (NOSCRIPT: it
   * did not run; the cache is empty after a restart). Rejects with `BackendUnavailableError` when
   * it does not complete within `deadlineMs` (the outcome of a write is then unknown) or the
   * connection fails, and with the translated error reply otherwise.
   */
  script(script: LuaScript, keys: readonly string[], args: readonly string[], deadlineMs: number, what: string): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args];
    return this.run(async (client) => {
      try {
        return await client.sendCommand(['EVALSHA', script.sha1, ...rest]);
      } catch (err) {
        if (!(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
        return client.sendCommand(['EVAL', script.source, ...rest]);
      }
    }, deadlineMs, what);
  }

  /** Destroys the connection now (no QUIT: the socket may be blackholed). Idempotent. */
  close(): void {
    this.closed = true;
    this.drop(this.client);
  }

  private async run(fn: (client: RedisRawClient) => Promise<unknown>, deadlineMs: number, what: string): Promise<unknown> {
    if (this.closed) throw new BackendUnavailableError(`redis backend: ${what}: closed`);
    this.inFlight++;
    let timer: NodeJS.Timeout | undefined;
    let used: RedisRawClient | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // The connection may still carry the late answer of this call: never reuse it.
        this.drop(used);
        reject(new BackendUnavailableError(`redis backend: ${what}: no answer within ${deadlineMs} ms`));
      }, deadlineMs);
    });
    try {
      const attempt = async (): Promise<unknown> => {
        used = await this.connected();
        return fn(used);
      };
      return await Promise.race([attempt(), deadline]);
    } catch (err) {
      if (!keepsConnection(err)) this.drop(used);
      throw translateRedisError(err, what);
    } finally {
      clearTimeout(timer);
      this.inFlight--;
    }
  }

  private connected(): Promise<RedisRawClient> {
    if (this.client !== undefined) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<RedisRawClient> {
    const client = createClient({
      url: this.options.url,
      RESP: 2,
      name: this.options.clientName,
      disableOfflineQueue: true,
      socket: { connectTimeout: this.options.connectTimeoutMs, reconnectStrategy: false, keepAlive: true, noDelay: true },
    }) as unknown as RedisRawClient;
    // Without a listener an error would crash the process; the next call reconnects.
    client.on('error', (err) => {
      this.options.logger.debug({ link: this.label, err: err?.message }, 'connection failed');
      this.drop(client);
    });
    client.on('end', () => this.drop(client));
    // node-redis's connectTimeout covers the TCP connect only: a server that accepted the
    // connection and answers nothing (frozen, blackholed) would hold the handshake forever.
    let timer: NodeJS.Timeout | undefined;
    const handshakeDeadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BackendUnavailableError(`redis backend: no connection within ${this.options.connectTimeoutMs} ms`)),
        this.options.connectTimeoutMs,
      );
    });
    try {
      const handshake = async (): Promise<void> => {
        await client.connect();
        const role = await client.sendCommand(['ROLE']);
        if (Array.isArray(role) && role[0] !== 'master') {
          throw new BackendStorageError(`redis backend: the server is a ${String(role[0])} (ROLE); point backend.url at the primary`);
        }
        await this.options.onConnect?.(client);
      };
      await Promise.race([handshake(), handshakeDeadline]);
    } catch (err) {
      destroy(client);
      throw translateRedisError(err, 'connect');
    } finally {
      clearTimeout(timer);
    }
    if (this.closed) {
      destroy(client);
      throw new BackendUnavailableError('redis backend: closed');
    }
    this.client = client;
    this.generation++;
    return client;
  }

  private drop(client: RedisRawClient | undefined): void {
    if (client === undefined) return;
    destroy(client);
    if (this.client === client) this.client = undefined;
  }
}

/** Closes a client's socket at once and fails its pending calls; a closed client is left alone. */
function destroy(client: RedisRawClient): void {
  try {
    client.destroy();
  } catch {
    // Already closed (node-redis throws ClientClosedError).
  }
}
