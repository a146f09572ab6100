import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import { BackendUnavailableError, LeadershipLostError } from '../../errors.js';
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
 * every quarter of the session timeout, SUSPENDED when one goes unanswered for as long, LOST once
 * `deadline()` passes. The deadline is the send time of the last answered request plus the
 * session timeout minus a margin: the server cannot expire the session before that.
 */
export class ZkSession {
  state: SessionState = 'connected';
  /** Why the session is not `connected`. */
  reason: string | undefined;
  /** The negotiated session timeout. */
  readonly timeoutMs: number;
  private readonly marginMs: number;
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

  constructor(
    readonly client: ZkClient,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly heartbeatPath: string,
  ) {
    this.timeoutMs = client.negotiatedTimeoutMs;
    this.marginMs = Math.max(100, Math.round(this.timeoutMs / 5));
    this.heartbeatMs = Math.max(50, Math.round(this.timeoutMs / 4));
    client.onConnection((event) => this.onConnection(event));
    this.scheduleHeartbeat();
    this.armDeadline();
  }

  /** Monotonic time after which the server may have expired the session. */
  deadline(): number {
    return this.client.lastAckSentAt + this.timeoutMs - this.marginMs;
  }

  remainingMs(): number {
    return this.deadline() - this.clock.monotonic();
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

  /** Aborts every owned lease and closes the client. Idempotent. */
  lose(reason: string, graceful = false): void {
    if (this.state === 'lost') return;
    this.state = 'lost';
    this.reason = reason;
    this.cancelHeartbeat();
    this.cancelDeadline();
    this.pendingDiscards.clear();
    const error = new LeadershipLostError(`zookeeper session lost: ${reason}`);
    const nodes = [...this.owned];
    this.owned.clear();
    for (const node of nodes) node.lost(error);
    if (graceful) this.logger.debug({ sessionId: this.client.sessionId.toString(16) }, 'zookeeper session closed');
    else this.logger.warn({ sessionId: this.client.sessionId.toString(16), reason }, 'zookeeper session lost');
    this.emit();
    void this.client.close();
  }

  /** Ends the session gracefully: leases are aborted, ephemeral nodes vanish at the server. */
  async close(): Promise<void> {
    this.lose('closed', true);
    await this.client.close();
  }

  // A method, so TypeScript does not narrow `state` across awaits.
  private isLost(): boolean {
    return this.state === 'lost';
  }

  private onConnection(event: ZkConnectionEvent): void {
    if (event === 'disconnected') this.suspend('disconnected from zookeeper');
    else if (event === 'connected') void this.recheck();
    else this.lose(event === 'expired' ? 'the server expired the session' : 'authentication failed');
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
      this.lose(`no reply from zookeeper for ${this.timeoutMs - this.marginMs}ms`);
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
