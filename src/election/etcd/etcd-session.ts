import type { Logger } from 'pino';
import { LeadershipLostError } from '../../errors.js';
import type { EtcdRpc } from './etcd-rpc.js';

/** How long before the server could expire the lease we stop vouching for it. */
export function safetyMarginMs(ttlMs: number): number {
  // At most a third of the TTL, so a keep-alive sent a third of the TTL before a hiccup of up to
  // the margin is still answered before the deadline.
  return Math.min(Math.max(500, ttlMs / 5), ttlMs / 3);
}

/**
 * One etcd lease shared by the election and every lock of a Backend, kept alive by lockd itself
 * (not by etcd3's loop) so the send time of each acknowledged keep-alive is known.
 *
 * Self-fencing: the deadline is the send time of the last acknowledged keep-alive + TTL − margin,
 * on `performance.now()`. The server cannot expire the lease before that, since it renews on
 * receipt, which is after the send. `signal` aborts with `LeadershipLostError` when the deadline
 * passes, when etcd answers a keep-alive with TTL 0 (lease gone), on `lose()`, or on `close()`.
 * A failed keep-alive is retried at once and aborts nothing by itself.
 */
export class EtcdSession {
  readonly leaseId: string;
  readonly ttlMs: number;
  private readonly controller = new AbortController();
  private deadline: number;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private loopTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly rpc: EtcdRpc,
    private readonly log: Logger,
    leaseId: string,
    ttlMs: number,
    grantSentAt: number,
  ) {
    this.leaseId = leaseId;
    this.ttlMs = ttlMs;
    this.deadline = grantSentAt + ttlMs - safetyMarginMs(ttlMs);
    this.armDeadline();
    this.scheduleKeepAlive(this.intervalMs());
  }

  /**
   * Grants a lease of `ceil(ttlMs / 1000)` s and starts keeping it alive. Throws
   * `BackendUnavailableError` when etcd cannot be reached.
   */
  static async open(rpc: EtcdRpc, ttlMs: number, log: Logger): Promise<EtcdSession> {
    const sentAt = performance.now();
    const granted = await rpc.leaseGrant(Math.ceil(ttlMs / 1000));
    // etcd may raise a TTL below its minimum, never lower it; vouch for the shorter of the two.
    const effectiveTtlMs = Math.min(ttlMs, Number(granted.TTL) * 1000);
    const session = new EtcdSession(rpc, log, granted.ID, effectiveTtlMs, sentAt);
    log.info({ lease: session.hexId, ttlMs: effectiveTtlMs }, 'etcd session opened');
    return session;
  }

  /** Aborts when the session can no longer be vouched for; never un-aborts. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The lease id in lowercase hex, as it appears in key names. */
  get hexId(): string {
    return BigInt(this.leaseId).toString(16);
  }

  /** Synchronous: the deadline has not passed and the session was not lost. */
  isValid(): boolean {
    return !this.controller.signal.aborted && performance.now() < this.deadline;
  }

  /** ms until the self-fencing deadline; <= 0 when past or lost. */
  remainingMs(): number {
    return this.controller.signal.aborted ? 0 : this.deadline - performance.now();
  }

  /**
   * Gives the session up because its keys can no longer be trusted: aborts `signal` and revokes
   * the lease in the background, retrying for a while (etcd restores leases with a full TTL after
   * a restart, so a lease that survived would hold its keys, and block others, that much longer).
   * Idempotent.
   */
  lose(reason: string): void {
    if (!this.stop(new LeadershipLostError(`etcd session lost: ${reason}`))) return;
    this.log.info({ lease: this.hexId, reason }, 'etcd session lost');
    const giveUpAt = performance.now() + 10 * this.ttlMs;
    const revoke = (): void => {
      this.rpc.leaseRevoke(this.leaseId).catch((err: unknown) => {
        this.log.debug({ lease: this.hexId, err: String(err) }, 'revoke of a lost session failed');
        if (performance.now() < giveUpAt && !this.rpc.closed) setTimeout(revoke, 500);
      });
    };
    revoke();
  }

  /** Revokes the lease (etcd deletes every key of this session) and stops. Idempotent; never throws. */
  async close(): Promise<void> {
    if (!this.stop(new LeadershipLostError('etcd session closed'))) return;
    try {
      await this.rpc.leaseRevoke(this.leaseId);
    } catch (err) {
      this.log.warn({ lease: this.hexId, err: String(err) }, 'lease revoke failed; its keys expire with its TTL');
    }
  }

  private stop(reason: LeadershipLostError): boolean {
    if (this.controller.signal.aborted) return false;
    clearTimeout(this.deadlineTimer);
    clearTimeout(this.loopTimer);
    this.controller.abort(reason);
    return true;
  }

  private intervalMs(): number {
    return this.ttlMs / 3;
  }

  private scheduleKeepAlive(delayMs: number): void {
    this.loopTimer = setTimeout(() => void this.keepAlive(), delayMs);
  }

  private async keepAlive(): Promise<void> {
    const sentAt = performance.now();
    try {
      const res = await this.rpc.keepAlive(this.leaseId);
      if (this.controller.signal.aborted) return;
      if (Number(res.TTL) <= 0) {
        this.lose('etcd reports the lease gone (keep-alive TTL 0)');
        return;
      }
      this.deadline = Math.max(this.deadline, sentAt + Math.min(this.ttlMs, Number(res.TTL) * 1000) - safetyMarginMs(this.ttlMs));
      this.armDeadline();
      this.log.debug({ lease: this.hexId, rttMs: Math.round(performance.now() - sentAt) }, 'keep-alive acknowledged');
      this.scheduleKeepAlive(Math.max(0, sentAt + this.intervalMs() - performance.now()));
    } catch (err) {
      if (this.controller.signal.aborted) return;
      if (err instanceof LeadershipLostError) {
        this.lose('etcd reports the lease gone');
        return;
      }
      this.log.debug({ lease: this.hexId, err: String(err), remainingMs: Math.round(this.remainingMs()) }, 'keep-alive failed');
      // Retry soon: the deadline, not this failure, decides when the session is lost.
      this.scheduleKeepAlive(Math.min(this.intervalMs(), 200));
    }
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      if (this.controller.signal.aborted) return;
      if (performance.now() >= this.deadline) {
        this.lose(`keep-alive not acknowledged within the TTL (${this.ttlMs} ms) minus the safety margin`);
      } else {
        this.armDeadline();
      }
    }, Math.max(0, this.deadline - performance.now()));
  }
}
