import { LeadershipLostError } from '../../errors.js';
import type { FencingToken, Lease } from '../backend.js';
import type { RowSession } from './row-session.js';

/**
 * Ownership of the election, of a lock or of a seat: a row in `holders`, in `session`, that is
 * the lowest live row of its name (a seat: has fewer live rows ahead than the set has seats). Valid while the session is and until released; its signal aborts when
 * the session is lost, when a guarded write finds the row gone, or on release.
 */
export class RowLease implements Lease {
  private readonly controller = new AbortController();
  readonly signal: AbortSignal = this.controller.signal;
  private releasing: Promise<void> | undefined;
  private readonly onSessionLost = (): void => this.lose(this.session.signal.reason as LeadershipLostError);

  /**
   * Must be made while `session` is alive (else its signal would never abort).
   * @param name the public name (`'leader'` or the lock name)
   * @param rowName the row's name in `holders`
   * @param deleteRow deletes this lease's row; must not reject
   */
  constructor(
    readonly name: string,
    readonly rowName: string,
    readonly token: FencingToken,
    readonly session: RowSession,
    private readonly deleteRow: (lease: RowLease) => Promise<void>,
  ) {
    session.signal.addEventListener('abort', this.onSessionLost, { once: true });
  }

  get sessionId(): string {
    return this.session.id;
  }

  /** Whether this is a seat of a seat set (row `seat/<name>`) rather than a lock or leadership. */
  get isSeat(): boolean {
    return this.rowName.startsWith('seat/');
  }

  /** `leader (token 7)`, `lock "backup" (token 9)` or `seat of "workers" (token 11)`, for messages. */
  describe(): string {
    if (this.isSeat) return `seat of "${this.name}" (token ${this.token})`;
    return this.rowName.startsWith('lock/') ? `lock "${this.name}" (token ${this.token})` : `leader (token ${this.token})`;
  }

  isValid(): boolean {
    return !this.signal.aborted && this.session.remainingMs() > 0;
  }

  remainingMs(): number {
    return this.signal.aborted ? 0 : this.session.remainingMs();
  }

  /** Aborts the signal with `reason` (first call wins). The row is left to its session. */
  lose(reason: LeadershipLostError): void {
    this.session.signal.removeEventListener('abort', this.onSessionLost);
    if (!this.signal.aborted) this.controller.abort(reason);
  }

  release(): Promise<void> {
    if (this.releasing === undefined) {
      this.lose(new LeadershipLostError(`${this.describe()} released`));
      this.releasing = this.deleteRow(this);
    }
    return this.releasing;
  }
}
