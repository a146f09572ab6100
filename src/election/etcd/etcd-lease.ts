import type { Logger } from 'pino';
import type { FencingToken, Lease } from '../backend.js';
import { LeadershipLostError } from '../../errors.js';
import type { EtcdSession } from './etcd-session.js';
import type { EtcdQueue } from './etcd-queue.js';

/**
 * Ownership of the election, of one lock or of one seat of a seat set: the key
 * `<prefix>/<lease hex>` of `session`, created at revision `token`. Valid while the session is and
 * until released or found lost.
 */
export class EtcdLease implements Lease {
  readonly name: string;
  readonly token: FencingToken;
  readonly key: string;
  readonly session: EtcdSession;
  /** A seat of a seat set (not exclusive, so never a `guardedPut` guard), not a lock or leadership. */
  readonly isSeat: boolean;
  private readonly controller = new AbortController();
  private released: Promise<void> | undefined;
  private readonly onSessionLost: () => void;

  constructor(
    opts: { name: string; key: string; token: FencingToken; session: EtcdSession; isSeat: boolean },
    private readonly queue: EtcdQueue,
    private readonly log: Logger,
    private readonly onEnd: (lease: EtcdLease) => void,
  ) {
    this.name = opts.name;
    this.key = opts.key;
    this.token = opts.token;
    this.session = opts.session;
    this.isSeat = opts.isSeat;
    this.onSessionLost = () => this.lose(this.session.signal.reason as LeadershipLostError);
    if (this.session.signal.aborted) this.onSessionLost();
    else this.session.signal.addEventListener('abort', this.onSessionLost, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get sessionId(): string {
    return this.session.hexId;
  }

  isValid(): boolean {
    return !this.controller.signal.aborted && this.session.isValid();
  }

  remainingMs(): number {
    return this.controller.signal.aborted ? 0 : this.session.remainingMs();
  }

  /**
   * Marks the lease lost (e.g. a guarded write found its key gone): aborts `signal` with `reason`
   * and stops tracking it. The key, if still there, is deleted by `release()` or with the session.
   */
  lose(reason: LeadershipLostError): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(reason);
    this.session.signal.removeEventListener('abort', this.onSessionLost);
    this.log.info({ name: this.name, token: this.token.toString(), reason: reason.message }, 'ownership lost');
    this.onEnd(this);
  }

  /** Deletes the key (only if it is still this lease's) and aborts `signal`. Idempotent; never throws. */
  release(): Promise<void> {
    this.released ??= this.doRelease();
    return this.released;
  }

  private async doRelease(): Promise<void> {
    const wasHeld = !this.controller.signal.aborted;
    if (wasHeld) {
      this.controller.abort(new LeadershipLostError(`${this.name} released`));
      this.session.signal.removeEventListener('abort', this.onSessionLost);
      this.onEnd(this);
    }
    // A lost session's keys go with its lease; deleting is still right when only this lease was lost.
    if (!this.session.signal.aborted) await this.queue.remove(this.key, this.token, this.session);
    if (wasHeld) this.log.info({ name: this.name, token: this.token.toString() }, 'released');
  }
}
