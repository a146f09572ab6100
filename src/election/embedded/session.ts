import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { LeadershipLostError } from '../../errors.js';
import { monotonicMs } from './mono-clock.js';
import type { EmbeddedStore } from './store.js';

/** How long before the row's expiry a holder stops trusting its session: max(300 ms, TTL/5), at most TTL/3. */
export function safetyMarginMs(ttlMs: number): number {
  return Math.min(Math.max(300, ttlMs / 5), ttlMs / 3);
}

/**
 * How often a session is renewed: a third of the time the deadline allows, so that one failed
 * renewal (a busy database) still leaves a third of it for the next try.
 */
export function heartbeatIntervalMs(ttlMs: number): number {
  return (ttlMs - safetyMarginMs(ttlMs)) / 3;
}

/**
 * A row in `sessions` that this backend renews every `heartbeatIntervalMs`, and the deadline that
 * goes with it. The deadline is the start of the last successful renewal + TTL − margin on CLOCK_MONOTONIC;
 * the row expires no earlier than that start + TTL, so this process stops trusting the session
 * before any other process can reap it. Once lost (deadline passed, row found gone, closed) a
 * session stays lost: `signal` aborts with a `LeadershipLostError`, and the backend opens a new one.
 */
export class EmbeddedSession {
  readonly id = randomUUID();
  private readonly controller = new AbortController();
  /** Aborted, with a `LeadershipLostError`, when the session is lost or closed. */
  readonly signal: AbortSignal = this.controller.signal;
  private deadline: number;
  private readonly staleTokens = new Set<bigint>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly store: EmbeddedStore,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    started: number,
  ) {
    this.deadline = started + ttlMs - safetyMarginMs(ttlMs);
  }

  /** Inserts a new session row and starts renewing it. Throws the store's typed errors. */
  static open(store: EmbeddedStore, ttlMs: number, logger: Logger, info: string): EmbeddedSession {
    const started = monotonicMs();
    const session = new EmbeddedSession(store, ttlMs, logger, started);
    store.openSession(session.id, ttlMs, info);
    session.armDeadline();
    session.scheduleHeartbeat(started);
    logger.debug({ session: session.id, ttlMs }, 'session opened');
    return session;
  }

  /** Milliseconds until the self-fencing deadline; 0 once lost. Pure, so safe in any check. */
  remainingMs(): number {
    return this.signal.aborted ? 0 : this.deadline - monotonicMs();
  }

  /**
   * Whether the session can still be trusted. After a pause (SIGSTOP, starvation) timers fire in
   * any order, so this loses the session here and now when the deadline has passed unnoticed.
   */
  checkAlive(): boolean {
    if (!this.signal.aborted && monotonicMs() >= this.deadline) this.lose(this.deadlineReason());
    return !this.signal.aborted;
  }

  /** Remembers row `token` for deletion by the next heartbeat, after a delete that failed. */
  deleteLater(token: bigint): void {
    this.staleTokens.add(token);
  }

  /**
   * Gives the session up: aborts `signal` at once, then deletes the row and its holders so that
   * others need not wait for the expiry (best effort: a failure is logged). Idempotent.
   */
  lose(reason: string): void {
    if (this.signal.aborted) return;
    this.logger.warn({ session: this.id, reason }, 'session lost');
    this.end(new LeadershipLostError(`embedded backend: session lost: ${reason}`));
  }

  /** Ends the session on purpose, deleting its rows (best effort). Idempotent. */
  close(): void {
    if (this.signal.aborted) return;
    this.end(new LeadershipLostError('embedded backend: closed'));
  }

  private end(reason: LeadershipLostError): void {
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.deadlineTimer);
    this.controller.abort(reason);
    try {
      this.store.deleteSession(this.id);
    } catch (err) {
      this.logger.warn({ session: this.id, err: (err as Error).message }, 'could not delete the session row; it expires within the TTL');
    }
  }

  private heartbeat(): void {
    const started = monotonicMs();
    // Renewing a session whose deadline has passed would revive leases that were given up.
    if (!this.checkAlive()) return;
    let alive: boolean;
    try {
      alive = this.store.renewSession(this.id, this.ttlMs, [...this.staleTokens]);
    } catch (err) {
      this.logger.warn({ session: this.id, err: (err as Error).message, remainingMs: Math.round(this.remainingMs()) }, 'heartbeat failed');
      this.scheduleHeartbeat(started);
      return;
    }
    if (!alive) {
      this.lose('its row expired in the database (this process was paused or starved for longer than the TTL)');
      return;
    }
    this.staleTokens.clear();
    this.deadline = started + this.ttlMs - safetyMarginMs(this.ttlMs);
    this.armDeadline();
    this.logger.debug({ session: this.id, remainingMs: Math.round(this.remainingMs()) }, 'heartbeat');
    this.scheduleHeartbeat(started);
  }

  private scheduleHeartbeat(lastStart: number): void {
    const delay = Math.max(0, lastStart + heartbeatIntervalMs(this.ttlMs) - monotonicMs());
    this.heartbeatTimer = setTimeout(() => this.heartbeat(), delay);
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    // Timers may fire a little early against the monotonic clock: then look again later.
    this.deadlineTimer = setTimeout(() => {
      if (this.checkAlive()) this.armDeadline();
    }, Math.max(0, this.remainingMs()) + 1);
  }

  private deadlineReason(): string {
    return `self-fencing deadline passed (no heartbeat acknowledged within ${this.ttlMs - safetyMarginMs(this.ttlMs)} ms)`;
  }
}
