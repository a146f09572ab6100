import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { monotonicMs } from '../../clock.js';
import { LeadershipLostError } from '../../errors.js';
import type { Backend, SessionWatch } from '../backend.js';
import { fencingWindow, renewalIntervalMs, type FencingWindow } from '../fencing-window.js';
import type { RowStore } from './row-store.js';

/** A row-store backend kind: the ones built on this core. */
export type RowBackendKind = Extract<Backend['kind'], 'embedded' | 'postgres' | 'redis'>;

/**
 * A session row that this backend renews every `renewalIntervalMs`, and the self-fencing
 * timeline that goes with it (src/election/fencing-window.ts), counted on CLOCK_MONOTONIC from the
 * send time of the last acknowledged renewal: no store reaps the row before that time + TTL, so
 * this process stops vouching, and has its runs killed, before any other process can take over.
 * One renewal is in flight at a time; an acknowledgement that arrives after the session was lost
 * revives nothing. Once lost
 * (vouched time passed, row found gone, closed) a session stays lost: `signal` aborts with a
 * `LeadershipLostError`, and the backend opens a new one. The row is deleted only after the
 * `SessionWatch` reports every run under the session dead.
 */
export class RowSession {
  readonly id = randomUUID();
  private readonly controller = new AbortController();
  /** Aborted, with a `LeadershipLostError`, when the session is lost or closed. */
  readonly signal: AbortSignal = this.controller.signal;
  private readonly window: FencingWindow;
  private killBy: number;
  private readonly staleTokens = new Set<bigint>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly kind: RowBackendKind,
    private readonly store: RowStore,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly watch: SessionWatch,
    started: number,
  ) {
    this.window = fencingWindow(kind, ttlMs);
    // Every lease of the session listens to its signal: as many as jobs running at once.
    setMaxListeners(0, this.signal);
    this.killBy = started + ttlMs - this.window.marginMs;
  }

  /** Inserts a new session row and starts renewing it. Throws the store's typed errors. */
  static async open(
    kind: RowBackendKind,
    store: RowStore,
    ttlMs: number,
    logger: Logger,
    info: string,
    watch: SessionWatch,
  ): Promise<RowSession> {
    const started = monotonicMs();
    const session = new RowSession(kind, store, ttlMs, logger, watch, started);
    await store.openSession(session.id, ttlMs, info);
    watch.renewed(session.id, session.killBy);
    session.armDeadline();
    session.scheduleHeartbeat(started);
    logger.debug({ session: session.id, ttlMs }, 'session opened');
    return session;
  }

  /** Milliseconds until the session stops vouching; 0 once lost. Pure, so safe in any check. */
  remainingMs(): number {
    return this.signal.aborted ? 0 : this.killBy - this.window.lossGraceMs - monotonicMs();
  }

  /**
   * Whether the session can still be trusted. After a pause (SIGSTOP, starvation) timers fire in
   * any order, so this loses the session here and now when the vouched time has passed unnoticed.
   */
  checkAlive(): boolean {
    if (!this.signal.aborted && this.remainingMs() <= 0) this.lose(this.deadlineReason());
    return !this.signal.aborted;
  }

  /** Remembers row `token` for deletion by the next heartbeat, after a delete that failed. */
  deleteLater(token: bigint): void {
    this.staleTokens.add(token);
  }

  /**
   * Gives the session up: aborts `signal` at once, then, once the `SessionWatch` reports every run
   * under it dead, deletes the row and its holders so that others need not wait for the expiry
   * (best effort: a failure is logged). `reported`: the row was found gone, so another process may
   * hold its leases already and runs must die now. Idempotent.
   */
  lose(reason: string, reported = false): void {
    if (this.signal.aborted) return;
    this.logger.warn({ session: this.id, reason }, 'session lost');
    void this.end(new LeadershipLostError(`${this.kind} backend: session lost: ${reason}`, { killBy: reported ? monotonicMs() : this.killBy }));
  }

  /** Ends the session on purpose: kills what still runs under it, then deletes its rows (best effort). Idempotent. */
  async close(): Promise<void> {
    if (this.signal.aborted) return;
    await this.end(new LeadershipLostError(`${this.kind} backend: closed`, { killBy: monotonicMs() }));
  }

  private async end(reason: LeadershipLostError): Promise<void> {
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.deadlineTimer);
    this.controller.abort(reason);
    await this.watch.lost(this.id, reason.killBy ?? monotonicMs());
    try {
      await this.store.deleteSession(this.id);
    } catch (err) {
      this.logger.warn({ session: this.id, err: (err as Error).message }, 'could not delete the session row; it expires within the TTL');
    }
  }

  private async heartbeat(): Promise<void> {
    const started = monotonicMs();
    // Renewing a session whose vouched time has passed would revive leases that were given up.
    if (!this.checkAlive()) return;
    const stale = [...this.staleTokens];
    let alive: boolean;
    try {
      alive = await this.store.renewSession(this.id, this.ttlMs, stale);
    } catch (err) {
      if (this.signal.aborted) return;
      this.logger.warn({ session: this.id, err: (err as Error).message, remainingMs: Math.round(this.remainingMs()) }, 'heartbeat failed');
      this.scheduleHeartbeat(started);
      return;
    }
    // Lost meanwhile (the deadline passed while the renewal was on its way): it stays lost.
    if (this.signal.aborted) return;
    if (!alive) {
      this.lose('its row expired in the database (this process was paused or starved for longer than the TTL)', true);
      return;
    }
    for (const token of stale) this.staleTokens.delete(token);
    this.killBy = started + this.ttlMs - this.window.marginMs;
    this.watch.renewed(this.id, this.killBy);
    this.armDeadline();
    this.logger.debug({ session: this.id, remainingMs: Math.round(this.remainingMs()) }, 'heartbeat');
    this.scheduleHeartbeat(started);
  }

  private scheduleHeartbeat(lastStart: number): void {
    const delay = Math.max(0, lastStart + renewalIntervalMs(this.kind, this.ttlMs) - monotonicMs());
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), delay);
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    // Timers may fire a little early against the monotonic clock: then look again later.
    this.deadlineTimer = setTimeout(() => {
      if (this.checkAlive()) this.armDeadline();
    }, Math.max(0, this.remainingMs()) + 1);
  }

  private deadlineReason(): string {
    return `self-fencing deadline passed (no heartbeat acknowledged within ${Math.round(this.ttlMs - this.window.marginMs - this.window.lossGraceMs)} ms)`;
  }
}
