import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { monotonicMs } from '../../clock.js';
import { LeadershipLostError } from '../../errors.js';
import type { SessionWatch } from '../backend.js';
import { fencingWindow, renewalIntervalMs, type FencingWindow } from '../fencing-window.js';
import type { EtcdRpc } from './etcd-rpc.js';

/**
 * One etcd lease shared by the election and every lock of a Backend, kept alive by lockd itself
 * (not by etcd3's loop) so the send time of each acknowledged keep-alive is known.
 *
 * Self-fencing (src/election/fencing-window.ts): from S, the send time of the last acknowledged
 * keep-alive, on CLOCK_MONOTONIC, the session vouches until S + TTL − margin − lossGrace and its
 * processes must be dead by `killBy` = S + TTL − margin. The server cannot expire the lease before
 * S + TTL, since it renews on receipt, which is after the send. `signal` aborts with
 * `LeadershipLostError` when the vouched time passes, when etcd answers a keep-alive with TTL 0
 * (lease gone), on `lose()`, or on `close()`. A failed keep-alive is retried at once and aborts
 * nothing by itself. The lease is revoked only after the `SessionWatch` says nothing that ran under
 * it is alive.
 */
export class EtcdSession {
  readonly leaseId: string;
  readonly ttlMs: number;
  private readonly window: FencingWindow;
  private readonly controller = new AbortController();
  private killBy: number;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private loopTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly rpc: EtcdRpc,
    private readonly log: Logger,
    private readonly watch: SessionWatch,
    leaseId: string,
    ttlMs: number,
    grantSentAt: number,
  ) {
    this.leaseId = leaseId;
    this.ttlMs = ttlMs;
    this.window = fencingWindow('etcd', ttlMs);
    // Every lease of the session listens to its signal: as many as jobs running at once.
    setMaxListeners(0, this.controller.signal);
    this.killBy = grantSentAt + ttlMs - this.window.marginMs;
    this.watch.renewed(this.hexId, this.killBy);
    this.armDeadline();
    this.scheduleKeepAlive(this.intervalMs());
  }

  /**
   * Grants a lease of `ceil(ttlMs / 1000)` s and starts keeping it alive. Throws
   * `BackendUnavailableError` when etcd cannot be reached.
   */
  static async open(rpc: EtcdRpc, ttlMs: number, log: Logger, watch: SessionWatch): Promise<EtcdSession> {
    const sentAt = monotonicMs();
    const granted = await rpc.leaseGrant(Math.ceil(ttlMs / 1000));
    // etcd may raise a TTL below its minimum, never lower it; vouch for the shorter of the two.
    const effectiveTtlMs = Math.min(ttlMs, Number(granted.TTL) * 1000);
    const session = new EtcdSession(rpc, log, watch, granted.ID, effectiveTtlMs, sentAt);
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

  /** Synchronous: the session still vouches (monotonic clock) and was not lost. */
  isValid(): boolean {
    return this.remainingMs() > 0;
  }

  /** ms until the session stops vouching; <= 0 when past or lost. */
  remainingMs(): number {
    return this.controller.signal.aborted ? 0 : this.killBy - this.window.lossGraceMs - monotonicMs();
  }

  /**
   * Gives the session up because its keys can no longer be trusted: aborts `signal`, waits for the
   * `SessionWatch` to report every run under it dead, then revokes the lease in the background,
   * retrying for a while (etcd restores leases with a full TTL after a restart, so a lease that
   * survived would hold its keys, and block others, that much longer). `reported`: etcd said the
   * lease is gone, so another holder may exist already and runs must die now. Idempotent.
   */
  lose(reason: string, reported = false): void {
    const killBy = reported ? monotonicMs() : this.killBy;
    if (!this.stop(new LeadershipLostError(`etcd session lost: ${reason}`, { killBy }))) return;
    this.log.warn({ lease: this.hexId, reason }, 'etcd session lost');
    const giveUpAt = monotonicMs() + 10 * this.ttlMs;
    const revoke = (): void => {
      this.rpc.leaseRevoke(this.leaseId).catch((err: unknown) => {
        this.log.debug({ lease: this.hexId, err: String(err) }, 'revoke of a lost session failed');
        if (monotonicMs() < giveUpAt && !this.rpc.closed) setTimeout(revoke, 500);
      });
    };
    void this.watch.lost(this.hexId, killBy).then(revoke);
  }

  /**
   * Revokes the lease (etcd deletes every key of this session) once nothing run under it is alive,
   * and stops. Idempotent; never throws.
   */
  async close(): Promise<void> {
    const killBy = monotonicMs();
    if (!this.stop(new LeadershipLostError('etcd session closed', { killBy }))) return;
    await this.watch.lost(this.hexId, killBy);
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
    return renewalIntervalMs('etcd', this.ttlMs);
  }

  private scheduleKeepAlive(delayMs: number): void {
    this.loopTimer = setTimeout(() => void this.keepAlive(), delayMs);
  }

  private async keepAlive(): Promise<void> {
    const sentAt = monotonicMs();
    try {
      const res = await this.rpc.keepAlive(this.leaseId);
      if (this.controller.signal.aborted) return;
      if (Number(res.TTL) <= 0) {
        this.lose('etcd reports the lease gone (keep-alive TTL 0)', true);
        return;
      }
      const killBy = sentAt + Math.min(this.ttlMs, Number(res.TTL) * 1000) - this.window.marginMs;
      if (killBy > this.killBy) {
        this.killBy = killBy;
        this.watch.renewed(this.hexId, killBy);
      }
      this.armDeadline();
      this.log.debug({ lease: this.hexId, rttMs: Math.round(monotonicMs() - sentAt) }, 'keep-alive acknowledged');
      this.scheduleKeepAlive(Math.max(0, sentAt + this.intervalMs() - monotonicMs()));
    } catch (err) {
      if (this.controller.signal.aborted) return;
      if (err instanceof LeadershipLostError) {
        this.lose('etcd reports the lease gone', true);
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
      if (this.remainingMs() <= 0) {
        this.lose(`keep-alive not acknowledged within ${Math.round(this.ttlMs - this.window.marginMs - this.window.lossGraceMs)} ms (TTL ${this.ttlMs} ms minus the safety margin and the kill grace)`);
      } else {
        this.armDeadline();
      }
    }, Math.max(0, this.remainingMs()) + 1);
  }
}
