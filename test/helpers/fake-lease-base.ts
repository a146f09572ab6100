import type { FencingToken, Lease } from '../../src/election/backend.js';
import { LeadershipLostError } from '../../src/errors.js';

/** Who a fake lease belongs to: its backend's one session and TTL. */
export interface FakeLeaseOwner {
  readonly sessionId: string;
  readonly ttlMs: number;
}

/**
 * The lease mechanics the fakes share (a lock or the election in fake-backend.ts, a seat in
 * fake-seats.ts): valid until dropped or `lapsed` (a test's stand-in for a passed deadline),
 * `release()` drops it. `drop` (the backends' `expire`) removes it at the "server" (`vacate`,
 * which hands it to the next waiter) and aborts its signal with the reason.
 */
export abstract class FakeLeaseBase implements Lease {
  readonly #controller = new AbortController();
  lapsed = false;

  constructor(
    readonly name: string,
    readonly token: FencingToken,
    private readonly owner: FakeLeaseOwner,
  ) {}

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** One fake session per backend: its leases all live in it. */
  get sessionId(): string {
    return this.owner.sessionId;
  }

  isValid(): boolean {
    return !this.lapsed && !this.#controller.signal.aborted;
  }

  remainingMs(): number {
    return this.isValid() ? this.owner.ttlMs : 0;
  }

  async release(): Promise<void> {
    this.drop(new LeadershipLostError(`${this.describe()} released`));
  }

  /** Server-side removal plus local abort. */
  drop(reason: Error): void {
    this.vacate();
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }

  /** `lease <name>` or `seat of <name>`, for the release reason. */
  protected abstract describe(): string;

  /** Removes the lease at the "server" (if still there) and hands it to the next waiter. */
  protected abstract vacate(): void;
}
