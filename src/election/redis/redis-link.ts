import { createClient, ErrorReply } from 'redis';
import type { Logger } from 'pino';
import { BackendStorageError, BackendUnavailableError } from '../../errors.js';
import { keepsConnection, translateRedisError } from './redis-errors.js';
import { confirmReplicas, type ReplicaAck } from './redis-replica-ack.js';
import type { LuaScript } from './redis-scripts.js';
import type { RedisAddress } from './redis-sentinel.js';

/** What lockd uses of a node-redis client (RESP2 replies: strings, numbers, arrays, null). */
export interface RedisRawClient {
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  destroy(): void;
  on(event: 'error' | 'end', listener: (err?: Error) => void): unknown;
}

/**
 * Where a connection goes: one fixed server by URL, or the primary `locate` names (Sentinel),
 * looked up again before every connect.
 */
export type RedisTarget =
  | {
      kind: 'url';
      /** `redis://[user:password@]host:port[/db]` or `rediss://` (TLS). */
      url: string;
      /** For `rediss://`: the CA bundle and client certificate (PEM); the server is always verified. */
      tls?: RedisTls;
    }
  | {
      kind: 'sentinel';
      /** The current primary's address (redis-sentinel.ts); rejects with lockd errors. */
      locate: () => Promise<RedisAddress>;
      username?: string;
      password?: string;
    };

/** PEM contents for a `rediss://` connection: the CA(s) to verify the server by, a client certificate and its key. */
export interface RedisTls {
  ca?: string;
  cert?: string;
  key?: string;
}

/** How every connection of the backend is opened. */
export interface RedisConnectOptions {
  target: RedisTarget;
  /** When set, every write script counts only once this many replicas confirm it (WAIT). */
  replicaAck?: ReplicaAck;
  /** `CLIENT SETNAME` of each connection: `lockd/<cluster>/<node>`. */
  clientName: string;
  connectTimeoutMs: number;
  /** Runs on each new connection before its first call (SUBSCRIBE); may throw lockd errors. */
  onConnect?: (client: RedisRawClient) => Promise<void>;
  logger: Logger;
}

/**
 * One Redis connection that lockd's own deadlines govern, with the contract of pg-link.ts: it
 * connects on first use (and refuses a replica with `BackendStorageError`; with Sentinel, asks
 * the sentinels for the primary first and treats a replica as a failover in progress:
 * `BackendUnavailableError`), every call races a
 * deadline (covering the connect and the wait behind earlier calls), and a connection whose call
 * timed out or failed at the transport is destroyed and replaced on the next call. The node-redis
 * client is set up so that it never acts on its own: RESP2, `disableOfflineQueue` (a call while
 * disconnected fails at once), no reconnect strategy (a lost socket closes the client and fails
 * every call on it, so nothing is ever sent twice), no ping, no socket timeout. A READONLY reply
 * (the primary was demoted) also drops the connection, so the next call finds the primary anew.
 * With `replicaAck`, a write script's reply is returned only after WAIT confirmed it on enough
 * replicas (redis-replica-ack.ts), within the same deadline. `generation`
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
   * it does not complete within `deadlineMs` (the outcome of a write is then unknown), the
   * connection fails, or (with `replicaAck`, for a script that writes) too few replicas confirm
   * it, and with the translated error reply otherwise.
   */
  script(script: LuaScript, keys: readonly string[], args: readonly string[], deadlineMs: number, what: string): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args];
    const ack = script.writes ? this.options.replicaAck : undefined;
    return this.run(async (client, remainingMs) => {
      const reply = await evalScript(client, script, rest);
      // Leave the deadline's last tenth (at least 50 ms) for WAIT's answer to arrive.
      if (ack !== undefined) await confirmReplicas(client, ack, remainingMs() - Math.max(50, deadlineMs / 10), what);
      return reply;
    }, deadlineMs, what);
  }

  /**
   * Connects now unless connected (within the connect timeout), so that `generation` tells the
   * connection the next call runs on; rejects as a call's connect would.
   */
  async ready(): Promise<void> {
    if (this.closed) throw new BackendUnavailableError('redis backend: closed');
    await this.connected();
  }

  /** Destroys the connection now (no QUIT: the socket may be blackholed). Idempotent. */
  close(): void {
    this.closed = true;
    this.drop(this.client);
  }

  private async run(fn: (client: RedisRawClient, remainingMs: () => number) => Promise<unknown>, deadlineMs: number, what: string): Promise<unknown> {
    if (this.closed) throw new BackendUnavailableError(`redis backend: ${what}: closed`);
    const started = performance.now();
    const remainingMs = (): number => deadlineMs - (performance.now() - started);
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
        return fn(used, remainingMs);
      };
      return await Promise.race([attempt(), deadline]);
    } catch (err) {
      if (!keepsConnection(err)) this.drop(used);
      throw translateRedisError(err, what, this.options.target.kind === 'sentinel');
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

  /**
   * Finds the server (Sentinel: asks the sentinels), connects, checks ROLE and runs `onConnect`,
   * all within `connectTimeoutMs`: node-redis's connectTimeout covers the TCP connect only, and a
   * server that accepted the connection and answers nothing (frozen, blackholed) would hold the
   * handshake forever.
   */
  private async connect(): Promise<RedisRawClient> {
    const { target, connectTimeoutMs } = this.options;
    const sentinel = target.kind === 'sentinel';
    let client: RedisRawClient;
    let pending: RedisRawClient | undefined;
    let late = false;
    let timer: NodeJS.Timeout | undefined;
    const handshakeDeadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        late = true;
        reject(new BackendUnavailableError(`redis backend: no connection within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
    });
    try {
      const handshake = async (): Promise<RedisRawClient> => {
        const address = sentinel ? await target.locate() : undefined;
        // Past the deadline nobody waits for this connection: do not open it.
        if (late) throw new BackendUnavailableError('redis backend: connect: given up');
        const client = this.newClient(address);
        pending = client;
        await client.connect();
        const role = await client.sendCommand(['ROLE']);
        if (Array.isArray(role) && role[0] !== 'master') {
          if (sentinel) {
            throw new BackendUnavailableError(
              `redis backend: ${address?.host}:${address?.port}, named primary by the sentinels, is a ${String(role[0])} (a failover in progress?)`,
            );
          }
          throw new BackendStorageError(`redis backend: the server is a ${String(role[0])} (ROLE); point backend.url at the primary`);
        }
        await this.options.onConnect?.(client);
        return client;
      };
      client = await Promise.race([handshake(), handshakeDeadline]);
    } catch (err) {
      if (pending !== undefined) destroyClient(pending);
      throw translateRedisError(err, 'connect', sentinel);
    } finally {
      clearTimeout(timer);
    }
    if (this.closed) {
      destroyClient(client);
      throw new BackendUnavailableError('redis backend: closed');
    }
    this.client = client;
    this.generation++;
    return client;
  }

  /** A node-redis client for the URL, or for `address` (Sentinel), that never acts on its own. */
  private newClient(address?: RedisAddress): RedisRawClient {
    const { target } = this.options;
    const socket = { connectTimeout: this.options.connectTimeoutMs, reconnectStrategy: false as const, keepAlive: true, noDelay: true };
    const where =
      target.kind === 'url'
        ? { url: target.url, socket: { ...socket, ...target.tls } }
        : { username: target.username, password: target.password, socket: { ...socket, ...address } };
    const client = createClient({ ...where, RESP: 2, name: this.options.clientName, disableOfflineQueue: true }) as unknown as RedisRawClient;
    // Without a listener an error would crash the process; the next call reconnects.
    client.on('error', (err) => {
      this.options.logger.debug({ link: this.label, err: err?.message }, 'connection failed');
      this.drop(client);
    });
    client.on('end', () => this.drop(client));
    return client;
  }

  private drop(client: RedisRawClient | undefined): void {
    if (client === undefined) return;
    destroyClient(client);
    if (this.client === client) this.client = undefined;
  }
}

/** EVALSHA, or EVAL when the server's script cache lacks the script (NOSCRIPT: it did not run). */
async function evalScript(client: RedisRawClient, script: LuaScript, rest: readonly string[]): Promise<unknown> {
  try {
    return await client.sendCommand(['EVALSHA', script.sha1, ...rest]);
  } catch (err) {
    if (!(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
    return client.sendCommand(['EVAL', script.source, ...rest]);
  }
}

/** Closes a client's socket at once and fails its pending calls; a closed client is left alone. */
export function destroyClient(client: RedisRawClient): void {
  try {
    client.destroy();
  } catch {
    // Already closed (node-redis throws ClientClosedError).
  }
}
