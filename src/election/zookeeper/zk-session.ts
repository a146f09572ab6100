import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import { BackendUnavailableError, LeadershipLostError } from '../../errors.js';
import type { SessionWatch } from '../backend.js';
import { fencingWindow, renewalIntervalMs } from '../fencing-window.js';
import type { ZkClient } from './zk-client.js';
import type { ZkConnectionEvent } from './zk-types.js';

/**
 * `connected`: leases may act. `suspended`: a heartbeat went unanswered or the connection dropped;
 * nobody may act until ownership is re-checked. `lost`: no server reply for the session timeout
 * (minus a margin), or the server expired the session; every lease is aborted and the client closed.
 */
export type SessionState = 'connected' | 'suspended' | 'lost';

/** A node whose existence proves a lease; re-checked after every suspension. */
export interface OwnedNode {
  path: string;
  /** Called once when ownership can no longer be vouched for. */
  lost(reason: LeadershipLostError): void;
}

/** What to delete on a caller's behalf: one node, or every child of `dir` starting with `prefix`. */
export type DiscardTarget = { path: string } | { dir: string; prefix: string };

/**
 * Liveness of one ZooKeeper session, judged on the monotonic clock rather than on the client
 * library's events (which stay "connected" for tens of seconds after a server froze): a heartbeat
 * every `renewalIntervalMs` (a fifth of the session timeout), SUSPENDED when one goes unanswered
 * for as long, LOST once the vouched time (src/election/fencing-window.ts) passes, counted from the
 * send time of the last request the ensemble leader answered: the server cannot expire the session
 * before that send time plus the session timeout. Every such answer moves the `SessionWatch`'s
 * kill deadline; the client is closed (so the server deletes the session's ephemeral nodes) only
 * after the watch reports every run under the session dead.
 */
export class ZkSession {
  state: SessionState = 'connected';
  /** Why the session is not `connected`. */
  reason: string | undefined;
  /** The negotiated session timeout. */
  readonly timeoutMs: number;
  private readonly marginMs: number;
  private readonly lossGraceMs: number;
  private readonly heartbeatMs: number;
  private readonly owned = new Set<OwnedNode>();
  private readonly pendingDiscards = new Map<string, DiscardTarget>();
  private readonly listeners = new Set<(state: SessionState) => void>();
  private cancelHeartbeat = (): void => {};
  private cancelDeadline = (): void => {};
  private heartbeatInFlight = false;
  // Bumped on every suspension, so a re-check that raced with a new one does not resume.
  private suspensions = 0;
  private rechecking = false;
  private ended: Promise<void> | undefined;

  constructor(
    readonly client: ZkClient,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly heartbeatPath: string,
    private readonly watch: SessionWatch,
  ) {
    this.timeoutMs = client.negotiatedTimeoutMs;
    ({ marginMs: this.marginMs, lossGraceMs: this.lossGraceMs } = fencingWindow('zookeeper', this.timeoutMs));
    this.heartbeatMs = Math.max(50, Math.round(renewalIntervalMs('zookeeper', this.timeoutMs)));
    client.onConnection((event) => this.onConnection(event));
    client.onAck = () => this.watch.renewed(this.id, this.deadline());
    this.watch.renewed(this.id, this.deadline());
    this.scheduleHeartbeat();
    this.armDeadline();
  }

  /** The session id in hex, as the `SessionWatch` knows it. */
  get id(): string {
    return this.client.sessionId.toString(16);
  }

  /** `killBy`: monotonic time by which every process run under the session must be dead. */
  deadline(): number {
    return this.client.lastAckSentAt + this.timeoutMs - this.marginMs;
  }

  /** ms until the session stops vouching. */
  remainingMs(): number {
    return this.deadline() - this.lossGraceMs - this.clock.monotonic();
  }

  /** Synchronous: connected and before the deadline. */
  canAct(): boolean {
    return this.state === 'connected' && this.remainingMs() > 0;
  }

  /** Calls `listener` on every state change (including repeated suspensions). Returns unsubscribe. */
  subscribe(listener: (state: SessionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Registers a node for re-checks and loss; returns the unregister function. */
  own(node: OwnedNode): () => void {
    if (this.state === 'lost') {
      node.lost(new LeadershipLostError(`zookeeper session lost: ${this.reason}`));
      return () => {};
    }
    this.owned.add(node);
    return () => this.owned.delete(node);
  }

  /**
   * Resolves once `connected`. Rejects with `BackendUnavailableError` when the session is lost
   * first, with the signal's reason when aborted.
   */
  async waitUntilConnected(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      if (this.state === 'connected') return;
      if (this.state === 'lost') throw new BackendUnavailableError(`zookeeper session lost: ${this.reason}`);
      await this.nextChange(signal);
    }
  }

  /** Resolves on the next state change; rejects with the signal's reason when aborted. */
  nextChange(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        unsubscribe();
        reject(signal?.reason);
      };
      const unsubscribe = this.subscribe(() => {
        signal?.removeEventListener('abort', onAbort);
        unsubscribe();
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Deletes nodes this session created and no longer wants. If that fails it is retried after
   * every answered heartbeat while the session lives: a forgotten node of a live session would
   * block its queue for good. Resolves after the first attempt; never rejects.
   */
  async discard(target: DiscardTarget): Promise<void> {
    if (this.state === 'lost') return;
    const key = 'path' in target ? target.path : `${target.dir}/${target.prefix}*`;
    this.pendingDiscards.set(key, target);
    await this.tryDiscard(key, target);
  }

  /**
   * Aborts every owned lease, then closes the client once the `SessionWatch` reports every run
   * under the session dead. `killBy`: the session's kill deadline when it stopped vouching in time;
   * now when the server expired it or it is being closed. Resolves once closed. Idempotent.
   */
  lose(reason: string, opts: { graceful?: boolean; killBy?: number } = {}): Promise<void> {
    if (this.ended !== undefined) return this.ended;
    this.state = 'lost';
    this.reason = reason;
    this.cancelHeartbeat();
    this.cancelDeadline();
    this.pendingDiscards.clear();
    const killBy = opts.killBy ?? this.clock.monotonic();
    const error = new LeadershipLostError(`zookeeper session lost: ${reason}`, { killBy });
    const nodes = [...this.owned];
    this.owned.clear();
    for (const node of nodes) node.lost(error);
    if (opts.graceful === true) this.logger.debug({ sessionId: this.id }, 'zookeeper session closed');
    else this.logger.warn({ sessionId: this.id, reason }, 'zookeeper session lost');
    this.emit();
    this.ended = this.watch.lost(this.id, killBy).then(() => this.client.close());
    return this.ended;
  }

  /** Ends the session gracefully: leases are aborted, ephemeral nodes vanish at the server. */
  async close(): Promise<void> {
    await this.lose('closed', { graceful: true });
  }

  // A method, so TypeScript does not narrow `state` across awaits.
  private isLost(): boolean {
    return this.state === 'lost';
  }

  private onConnection(event: ZkConnectionEvent): void {
    if (event === 'disconnected') this.suspend('disconnected from zookeeper');
    else if (event === 'connected') void this.recheck();
    else void this.lose(event === 'expired' ? 'the server expired the session' : 'authentication failed');
  }

  private suspend(reason: string): void {
    if (this.state === 'lost') return;
    this.suspensions++;
    if (this.state === 'suspended') return;
    this.state = 'suspended';
    this.reason = reason;
    this.logger.warn({ reason, remainingMs: Math.round(this.remainingMs()) }, 'zookeeper session suspended');
    this.emit();
  }

  // Ownership is proven again (node exists and its ephemeralOwner is this session) before anyone
  // may act; a node that fails the check aborts its lease. A failed call leaves the session
  // suspended, and the next answered heartbeat or reconnect tries again.
  private async recheck(): Promise<void> {
    if (this.state !== 'suspended' || this.rechecking) return;
    this.rechecking = true;
    const epoch = this.suspensions;
    try {
      for (const node of [...this.owned]) {
        const stat = await this.client.exists(node.path);
        if (this.isLost()) return;
        if (stat !== null && stat.ephemeralOwner === this.client.sessionId) continue;
        this.owned.delete(node);
        const why = stat === null ? 'is gone' : 'belongs to another session';
        node.lost(new LeadershipLostError(`ownership re-check after reconnect failed: ${node.path} ${why}`));
      }
      if (this.state !== 'suspended' || epoch !== this.suspensions) return;
      this.state = 'connected';
      this.reason = undefined;
      this.logger.info({ remainingMs: Math.round(this.remainingMs()) }, 'zookeeper session resumed');
      this.emit();
    } catch {
      return;
    } finally {
      this.rechecking = false;
    }
  }

  private scheduleHeartbeat(): void {
    this.cancelHeartbeat = this.clock.setTimer(this.heartbeatMs, () => {
      this.scheduleHeartbeat();
      void this.heartbeat();
    });
  }

  private async heartbeat(): Promise<void> {
    if (this.heartbeatInFlight || this.state === 'lost') return;
    this.heartbeatInFlight = true;
    try {
      // A transaction, not a read: only the ensemble leader answers it (see ZkClient.call).
      await this.client.multi([{ kind: 'check', path: this.heartbeatPath }], { timeoutMs: this.heartbeatMs });
      if (this.state === 'suspended') await this.recheck();
      for (const [key, target] of this.pendingDiscards) await this.tryDiscard(key, target);
    } catch (error) {
      if (error instanceof BackendUnavailableError) this.suspend(`heartbeat not answered within ${this.heartbeatMs}ms`);
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  // Re-armed lazily: it fires at the deadline it was set for and re-arms if acks moved it since.
  private armDeadline(): void {
    this.cancelDeadline = this.clock.setTimer(this.remainingMs(), () => {
      if (this.state === 'lost') return;
      if (this.remainingMs() > 0) return this.armDeadline();
      void this.lose(`no reply from the zookeeper ensemble leader for ${this.timeoutMs - this.marginMs - this.lossGraceMs}ms`, { killBy: this.deadline() });
    });
  }

  private async tryDiscard(key: string, target: DiscardTarget): Promise<void> {
    try {
      if ('path' in target) {
        await this.client.remove(target.path);
      } else {
        const children = (await this.client.getChildren(target.dir)) ?? [];
        for (const child of children) {
          if (child.startsWith(target.prefix)) await this.client.remove(`${target.dir}/${child}`);
        }
      }
      this.pendingDiscards.delete(key);
    } catch (error) {
      this.logger.debug({ err: error, key }, 'zookeeper delete failed; retrying after the next heartbeat');
    }
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener(this.state);
  }
}
