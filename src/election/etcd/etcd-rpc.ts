import { readFileSync } from 'node:fs';
import { ExponentialBackoff, noop } from 'cockatiel';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  EtcdRoleNotGrantedError,
  EtcdUserNotFoundError,
  type IDeleteRangeRequest,
  type IDeleteRangeResponse,
  type ILeaseGrantResponse,
  type ILeaseKeepAliveResponse,
  type IOptions,
  type IPutRequest,
  type IRangeRequest,
  type IRangeResponse,
  type ITxnRequest,
  type ITxnResponse,
  type Watcher,
} from 'etcd3';
import type { BackendConfig } from '../../config/types.js';
import { BackendStorageError, BackendUnavailableError, LeadershipLostError, LockdError } from '../../errors.js';

type EtcdConfig = Extract<BackendConfig, { type: 'etcd' }>;

/**
 * The one place etcd3 is called. Every unary RPC carries a deadline, so a frozen etcd makes calls
 * fail instead of hang; every driver error is converted here, once, into a `LockdError`:
 * lease not found → `LeadershipLostError`, auth/permission → `BackendStorageError`,
 * anything else → `BackendUnavailableError`.
 */
export class EtcdRpc {
  readonly client: Etcd3;
  /** Deadline of each unary RPC and keep-alive. */
  readonly timeoutMs: number;
  /** Whether the last RPC reached etcd, for `health()`. */
  private reachable = true;
  private lastError = '';
  private isClosed = false;

  constructor(config: EtcdConfig, timeoutMs: number) {
    this.client = new Etcd3(clientOptions(config));
    this.timeoutMs = timeoutMs;
  }

  /** `{ up: true }` when the last RPC reached etcd, else why not. */
  connectivity(): { up: boolean; reason?: string } {
    return this.reachable ? { up: true } : { up: false, reason: this.lastError };
  }

  range(req: IRangeRequest, what: string): Promise<IRangeResponse> {
    return this.call(what, (options) => this.client.kv.range(req, options));
  }

  txn(req: ITxnRequest, what: string): Promise<ITxnResponse> {
    return this.call(what, (options) => this.client.kv.txn(req, options));
  }

  put(req: IPutRequest, what: string): Promise<unknown> {
    return this.call(what, (options) => this.client.kv.put(req, options));
  }

  deleteRange(req: IDeleteRangeRequest, what: string): Promise<IDeleteRangeResponse> {
    return this.call(what, (options) => this.client.kv.deleteRange(req, options));
  }

  leaseGrant(ttlSeconds: number): Promise<ILeaseGrantResponse> {
    return this.call('lease grant', (options) => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }, options));
  }

  /** Revokes the lease (etcd deletes every key attached to it). A lease already gone is not an error. */
  async leaseRevoke(leaseId: string): Promise<void> {
    try {
      await this.call('lease revoke', (options) => this.client.leaseClient.leaseRevoke({ ID: leaseId }, options));
    } catch (err) {
      if (!(err instanceof LeadershipLostError)) throw err;
    }
  }

  /** Seconds left on a lease; -1 when etcd no longer knows it. */
  async leaseTimeToLive(leaseId: string): Promise<number> {
    const res = await this.call('lease ttl', (options) => this.client.leaseClient.leaseTimeToLive({ ID: leaseId }, options));
    return Number(res.TTL);
  }

  /** One keep-alive on its own short stream, so its answer is matched to its send time. */
  keepAlive(leaseId: string): Promise<ILeaseKeepAliveResponse> {
    return this.call('keep-alive', async (options) => {
      const stream = await this.client.leaseClient.leaseKeepAlive(options);
      return new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
        stream.on('data', (res) => {
          resolve(res);
          stream.end();
        });
        stream.on('error', reject);
        stream.on('end', () => reject(new Error('keep-alive stream ended without an answer')));
        stream.write({ ID: leaseId });
      });
    });
  }

  /** A watcher on `key` (or every key with that prefix) from `fromRevision`; see etcd-watch.ts. */
  watcher(key: string, opts: { prefix?: boolean; fromRevision?: bigint; deletesOnly?: boolean }): Watcher {
    let builder = this.client.watch();
    builder = opts.prefix ? builder.prefix(key) : builder.key(key);
    if (opts.fromRevision !== undefined) builder = builder.startRevision(opts.fromRevision.toString());
    if (opts.deletesOnly) builder = builder.only('delete');
    return builder.watcher();
  }

  /** True once `close()` was called; later calls fail. */
  get closed(): boolean {
    return this.isClosed;
  }

  close(): void {
    this.isClosed = true;
    this.client.close();
  }

  private async call<T>(what: string, fn: (options: { deadline: number }) => Promise<T>): Promise<T> {
    try {
      const result = await fn({ deadline: Date.now() + this.timeoutMs });
      this.reachable = true;
      return result;
    } catch (err) {
      const converted = toLockdError(err, what);
      if (converted instanceof BackendUnavailableError) {
        this.reachable = false;
        this.lastError = converted.message;
      }
      throw converted;
    }
  }
}

/** Converts an etcd3/grpc error into lockd's typed errors. */
export function toLockdError(err: unknown, what: string): LockdError {
  if (err instanceof LockdError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof EtcdLeaseInvalidError) return new LeadershipLostError(`etcd ${what}: lease not found`, { cause: err });
  if (
    err instanceof EtcdAuthenticationFailedError ||
    err instanceof EtcdPermissionDeniedError ||
    err instanceof EtcdRoleNotGrantedError ||
    err instanceof EtcdUserNotFoundError
  ) {
    return new BackendStorageError(`etcd ${what}: ${message}`, err);
  }
  return new BackendUnavailableError(`etcd ${what} failed: ${message}`, err);
}

function clientOptions(config: EtcdConfig): IOptions {
  const options: IOptions = {
    hosts: config.endpoints,
    // lockd bounds and retries calls itself; the default circuit breaker would refuse every
    // call for 5 s after three failures, delaying recovery after an outage.
    faultHandling: {
      host: () => noop,
      global: noop,
      // etcd3 types this as a backoff state but calls next() on it: a state serves both.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }).next(),
    },
    // Reconnect within a second of etcd coming back, not grpc's default of up to two minutes.
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
  };
  if (config.username !== undefined) options.auth = { username: config.username, password: config.password ?? '' };
  if (config.tls) {
    const read = (path: string | undefined): Buffer | undefined => {
      if (path === undefined) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new BackendStorageError(`cannot read etcd TLS file ${path}: ${(err as Error).message}`, err);
      }
    };
    options.credentials = {
      // grpc accepts a missing root certificate (it then uses the system's CAs).
      rootCertificate: read(config.tls.ca) as Buffer,
      privateKey: read(config.tls.key),
      certChain: read(config.tls.cert),
    };
  }
  return options;
}
