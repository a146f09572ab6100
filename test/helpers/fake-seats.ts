import type { FencingToken, Lease } from '../../src/election/backend.js';
import { LeadershipLostError } from '../../src/errors.js';

interface SeatWaiter {
  seats: number;
  owner: SeatOwner;
  grant: (lease: FakeSeatLease) => void;
}

interface SeatSet {
  holders: Set<FakeSeatLease>;
  waiters: SeatWaiter[];
}

/** Who a seat lease belongs to: its backend's session and TTL. */
export interface SeatOwner {
  readonly sessionId: string;
  readonly ttlMs: number;
}

/**
 * Seat sets of the fake "server" (pure logic, see `Backend.acquireSeat`): per name a set of
 * holders and a FIFO of waiters; a waiter holds once fewer than its own `seats` hold; a try never
 * jumps the queue. Tokens come from `nextToken` (the store's revision). One owner may hold several
 * seats of a set at once, each its own lease.
 */
export class FakeSeats {
  readonly #sets = new Map<string, SeatSet>();
  readonly #nextToken: () => FencingToken;

  constructor(nextToken: () => FencingToken) {
    this.#nextToken = nextToken;
  }

  /** The current holders of seat set `name`, in grant order. */
  holders(name: string): FakeSeatLease[] {
    return [...this.#set(name).holders];
  }

  /** A seat if one is free and nobody waits, else null. */
  tryAcquire(name: string, seats: number, owner: SeatOwner): FakeSeatLease | null {
    const s = this.#set(name);
    if (s.waiters.length > 0 || s.holders.size >= seats) return null;
    return this.#grant(name, owner);
  }

  /** Waits in line for a seat; rejects with the signal's reason when it aborts, leaving no waiter. */
  acquire(name: string, seats: number, owner: SeatOwner, signal: AbortSignal | undefined): Promise<FakeSeatLease> {
    return new Promise<FakeSeatLease>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const s = this.#set(name);
      const onAbort = (): void => {
        s.waiters = s.waiters.filter((w) => w !== waiter);
        reject(signal?.reason);
        this.#grantNext(name);
      };
      const waiter: SeatWaiter = {
        seats,
        owner,
        grant: (lease) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(lease);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      s.waiters.push(waiter);
      this.#grantNext(name);
    });
  }

  /** Removes `lease` from its set's holders (if there) and hands the seat on. */
  vacate(lease: FakeSeatLease): void {
    if (this.#set(lease.name).holders.delete(lease)) this.#grantNext(lease.name);
  }

  /** Every seat lease `sessionId` holds (for `close`). */
  heldBy(sessionId: string): FakeSeatLease[] {
    return [...this.#sets.values()].flatMap((s) => [...s.holders].filter((l) => l.sessionId === sessionId));
  }

  #set(name: string): SeatSet {
    let s = this.#sets.get(name);
    if (!s) {
      s = { holders: new Set(), waiters: [] };
      this.#sets.set(name, s);
    }
    return s;
  }

  #grant(name: string, owner: SeatOwner): FakeSeatLease {
    const lease = new FakeSeatLease(this, owner, name, this.#nextToken());
    this.#set(name).holders.add(lease);
    return lease;
  }

  /** Grants waiters in order while the first one's count has room (each grant is one holder more). */
  #grantNext(name: string): void {
    const s = this.#set(name);
    let first = s.waiters[0];
    while (first !== undefined && s.holders.size < first.seats) {
      s.waiters.shift();
      first.grant(this.#grant(name, first.owner));
      first = s.waiters[0];
    }
  }
}

/** One held seat; `drop` (the backend's `expire`) simulates its loss, `lapsed` a passed deadline. */
export class FakeSeatLease implements Lease {
  readonly name: string;
  readonly token: FencingToken;
  readonly #seats: FakeSeats;
  readonly #owner: SeatOwner;
  readonly #controller = new AbortController();
  lapsed = false;

  constructor(seats: FakeSeats, owner: SeatOwner, name: string, token: FencingToken) {
    this.#seats = seats;
    this.#owner = owner;
    this.name = name;
    this.token = token;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get sessionId(): string {
    return this.#owner.sessionId;
  }

  isValid(): boolean {
    return !this.lapsed && !this.#controller.signal.aborted;
  }

  remainingMs(): number {
    return this.isValid() ? this.#owner.ttlMs : 0;
  }

  async release(): Promise<void> {
    this.drop(new LeadershipLostError(`seat of ${this.name} released`));
  }

  /** Server-side removal plus local abort; hands the seat to the next waiter. */
  drop(reason: Error): void {
    this.#seats.vacate(this);
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }
}
