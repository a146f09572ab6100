import type { Lease } from '../backend.js';
import { LeadershipLostError } from '../../errors.js';
import type { ZkSession } from './zk-session.js';

/**
 * Ownership of the election, a lock or a seat, proven by an ephemeral node of `session`. Valid while the
 * session is connected, before its self-fencing deadline, and not aborted. The signal aborts (with
 * a `LeadershipLostError`) when the session is lost, when the node fails the re-check after a
 * reconnect, when a guarded write finds the node gone, or on `release()`.
 */
export class ZkLease implements Lease {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly unown: () => void;
  private releasing: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly token: bigint,
    /** The node that proves ownership. */
    readonly path: string,
    readonly session: ZkSession,
    private readonly onEnd: (lease: ZkLease, reason: LeadershipLostError) => void,
    /** A seat's lease (never a `guardedPut` guard). */
    readonly isSeat = false,
  ) {
    this.signal = this.controller.signal;
    this.unown = session.own({ path, lost: (reason) => this.abort(reason) });
  }

  get sessionId(): string {
    return this.session.id;
  }

  isValid(): boolean {
    return !this.signal.aborted && this.session.canAct();
  }

  remainingMs(): number {
    return this.signal.aborted ? 0 : this.session.remainingMs();
  }

  /** Aborts the signal once; later calls do nothing. Does not touch the node. */
  abort(reason: LeadershipLostError): void {
    if (this.signal.aborted) return;
    this.unown();
    this.controller.abort(reason);
    this.onEnd(this, reason);
  }

  /** Aborts, then deletes the node so the next in line takes over at once. Never throws. */
  release(): Promise<void> {
    this.releasing ??= (async () => {
      this.abort(new LeadershipLostError(`${this.name}: released`));
      await this.session.discard({ path: this.path });
    })();
    return this.releasing;
  }
}
