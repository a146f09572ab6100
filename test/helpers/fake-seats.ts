import type { FencingToken } from '../../src/election/backend.js';
import { FakeLeaseBase, type FakeLeaseOwner } from './fake-lease-base.js';

interface SeatWaiter {
  seats: number;
  owner: FakeLeaseOwner;
  grant: (lease: FakeSeatLease) => void;
}

interface SeatSet {
  holders: Set<FakeSeatLease>;
  waiters: SeatWaiter[];
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
  tryAcquire(name: string, seats: number, owner: FakeLeaseOwner): FakeSeatLease | null {
    const s = this.#set(name);
    if (s.waiters.length > 0 || s.holders.size >= seats) return null;
    return this.#grant(name, owner);
  }

  /** Waits in line for a seat; rejects with the signal's reason when it aborts, leaving no waiter. */
  acquire(name: string, seats: number, owner: FakeLeaseOwner, signal: AbortSignal | undefined): Promise<FakeSeatLease> {
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

  #grant(name: string, owner: FakeLeaseOwner): FakeSeatLease {
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
export class FakeSeatLease extends FakeLeaseBase {
  readonly #seats: FakeSeats;

  constructor(seats: FakeSeats, owner: FakeLeaseOwner, name: string, token: FencingToken) {
    super(name, token, owner);
    this.#seats = seats;
  }

  protected describe(): string {
    return `seat of ${this.name}`;
  }

  /** Hands the seat to the next waiter. */
  protected vacate(): void {
    this.#seats.vacate(this);
  }
}
