import type {
  IDeleteRangeRequest,
  IDeleteRangeResponse,
  ILeaseGrantResponse,
  ILeaseKeepAliveResponse,
  IPutRequest,
  IRangeRequest,
  IRangeResponse,
  ITxnRequest,
  ITxnResponse,
  Watcher,
} from 'etcd3';
import type { BackendConfig } from '../../config/types.js';
import { BackendUnavailableError, LeadershipLostError } from '../../errors.js';
import { callWithFailover, type Answered, type CallTiming } from './etcd-failover.js';
import { raceKeepAlive } from './etcd-keep-alive.js';
import { EtcdMembers, type EtcdMember } from './etcd-members.js';

type EtcdConfig = Extract<BackendConfig, { type: 'etcd' }>;

/** A txn's answer; `replayed`: an earlier copy may have been applied first (see `Answered`). */
export type TxnAnswer = ITxnResponse & { readonly replayed: boolean };

/**
 * The one place etcd3 is called. Every call has an overall deadline of `timeoutMs` on the
 * monotonic clock, counted from when it is first sent, so a frozen etcd makes calls fail instead
 * of hang; every driver error is converted once into a `LockdError`: lease not found →
 * `LeadershipLostError`, auth/permission → `BackendStorageError`, anything else →
 * `BackendUnavailableError`.
 *
 * Calls fail over between the configured members: a unary call that fails on one member is sent
 * to the next within its deadline (`callWithFailover`), each attempt limited to
 * `attemptTimeoutMs`; a keep-alive is raced across members (`raceKeepAlive`). One dead or frozen
 * member of a healthy cluster is therefore invisible to callers.
 *
 * **The retry rule** (see `FailureKind`). A failure that proves the request was not applied
 * (`unsent`: connection refused or not established, no leader, proposal dropped) is retried on
 * the next member freely. A failure whose outcome is unknown (`ambiguous`: a deadline on a frozen
 * member, a connection dropped after sending, etcd's "request timed out") is retried too, which
 * is safe only because applying any request below a second time changes nothing, and its
 * caller recognises its own first application:
 * - `range`, `leaseTimeToLive` and read-only txns only read;
 * - `put` writes the same value again; `deleteRange` finds nothing more to delete;
 * - every write txn of lockd compares first, so a second copy fails its compare instead of
 *   writing: `enqueue` compares create_revision 0, and on failure reads the key back, finds its
 *   own and replaces it (a key is never reused); a delete compares the key's create_revision;
 *   `guardedPut` compares the guards' create_revisions and, for `ifAbsent`, reads the target
 *   back on failure and, when the answer is `replayed`, counts a target holding exactly its own
 *   value as written; `guardedPutAll` compares the guards and writes the same values again;
 * - a second `leaseGrant` makes a lease nobody keeps alive and no key uses: it expires;
 * - a second `leaseRevoke` finds no lease, which counts as revoked; a keep-alive renews again.
 * A new request must keep this true, or must not go through these methods. Attempts are
 * sequential, each cancelled at its deadline before the next is sent; only a copy held up unread
 * on a frozen member can still be applied after the call returned (a txn's then fails its
 * compare; a `put` would write its value once more). A call that fails for good throws
 * `BackendUnavailableError`, whose message says whether an attempt may have been applied;
 * callers must assume that it may have (DESIGN §3).
 */
export class EtcdRpc {
  /** Overall deadline of each call. */
  readonly timeoutMs: number;
  private readonly members: EtcdMembers;
  private readonly timing: CallTiming;
  /** Whether the last call reached etcd, for `health()`. */
  private reachable = true;
  private lastError = '';
  private isClosed = false;

  /**
   * `attemptTimeoutMs` bounds each attempt on one member (default a third of `timeoutMs`); the
   * etcd backend passes a fraction of the self-fencing margin. Throws `BackendStorageError` when
   * a TLS file cannot be read.
   */
  constructor(config: EtcdConfig, timeoutMs: number, attemptTimeoutMs = timeoutMs / 3) {
    this.timeoutMs = timeoutMs;
    this.timing = { budgetMs: timeoutMs, attemptMs: Math.min(attemptTimeoutMs, timeoutMs) };
    this.members = new EtcdMembers(config, this.timing.attemptMs);
  }

  /** `{ up: true }` when the last call reached etcd, else why not. */
  connectivity(): { up: boolean; reason?: string } {
    return this.reachable ? { up: true } : { up: false, reason: this.lastError };
  }

  range(req: IRangeRequest, what: string): Promise<IRangeResponse> {
    return this.call(what, (m, options) => m.client.kv.range(req, options));
  }

  async txn(req: ITxnRequest, what: string): Promise<TxnAnswer> {
    const answer = await this.track(callWithFailover(this.members, this.timing, what, () => this.isClosed, (m, options) => m.client.kv.txn(req, options)));
    return { ...answer.value, replayed: answer.replayed };
  }

  put(req: IPutRequest, what: string): Promise<unknown> {
    return this.call(what, (m, options) => m.client.kv.put(req, options));
  }

  deleteRange(req: IDeleteRangeRequest, what: string): Promise<IDeleteRangeResponse> {
    return this.call(what, (m, options) => m.client.kv.deleteRange(req, options));
  }

  leaseGrant(ttlSeconds: number): Promise<ILeaseGrantResponse> {
    return this.call('lease grant', (m, options) => m.client.leaseClient.leaseGrant({ TTL: ttlSeconds }, options));
  }

  /** Revokes the lease (etcd deletes every key attached to it). A lease already gone is not an error. */
  async leaseRevoke(leaseId: string): Promise<void> {
    try {
      await this.call('lease revoke', (m, options) => m.client.leaseClient.leaseRevoke({ ID: leaseId }, options));
    } catch (err) {
      if (!(err instanceof LeadershipLostError)) throw err;
    }
  }

  /** Seconds left on a lease; -1 when etcd no longer knows it. */
  async leaseTimeToLive(leaseId: string): Promise<number> {
    const res = await this.call('lease ttl', (m, options) => m.client.leaseClient.leaseTimeToLive({ ID: leaseId }, options));
    return Number(res.TTL);
  }

  /**
   * One acknowledged keep-alive, raced across members (see `raceKeepAlive`), each copy on its own
   * short stream. Resolves with the answer (TTL > 0); rejects with `LeadershipLostError` when the
   * lease is gone, `BackendUnavailableError` when no member answered within `timeoutMs`. The
   * caller takes the send time before calling: every copy is sent at or after it.
   */
  keepAlive(leaseId: string): Promise<ILeaseKeepAliveResponse> {
    return this.track(raceKeepAlive(this.members, leaseId, this.timing, () => this.isClosed));
  }

  /** A watcher on `key` (or every key with that prefix) from `fromRevision`; see etcd-watch.ts. */
  watcher(key: string, opts: { prefix?: boolean; fromRevision?: bigint; deletesOnly?: boolean }): Watcher {
    let builder = this.members.watchClient.watch();
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
    this.members.close();
  }

  private async call<T>(what: string, attempt: (member: EtcdMember, options: { readonly deadline: number }) => Promise<T>): Promise<T> {
    const answer: Answered<T> = await this.track(callWithFailover(this.members, this.timing, what, () => this.isClosed, attempt));
    return answer.value;
  }

  /** Records for `connectivity()` whether the call reached etcd. */
  private async track<T>(call: Promise<T>): Promise<T> {
    try {
      const result = await call;
      this.reachable = true;
      return result;
    } catch (err) {
      if (err instanceof BackendUnavailableError) {
        this.reachable = false;
        this.lastError = err.message;
      }
      throw err;
    }
  }
}
