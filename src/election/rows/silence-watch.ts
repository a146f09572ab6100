import { monotonicMs } from '../../clock.js';

/** A session as a poll of the store saw it. */
export interface SessionSighting {
  id: string;
  /** How often its owner has renewed it; any change proves it alive. */
  renewals: bigint;
}

/**
 * The "observed silence" rule by which a store that serves many hosts decides a session is dead
 * (as Kubernetes client-go judges a leader lease): a session may be reaped only once this process
 * has seen the same renewal count for at least the TTL on its **own monotonic clock**. Its owner
 * self-fences at (send time of its last acknowledged renewal) + TTL − margin, and this process
 * first saw that renewal's count after it was sent, so the owner has stopped vouching before the
 * reap; no wall clock takes part (a server clock step or client skew changes nothing; only clock
 * rates must agree). The reap itself must also find the session's count unchanged and, in the
 * same statement, the session expired by the server's clock or that clock before the session's
 * last renewal (it was set back).
 *
 * Pure logic, with an injectable clock. Sessions missing from a poll are forgotten. After a
 * reconnect (the store may have failed over) call `forget()`: a renewal lost with the old
 * connection must not shorten the wait.
 */
export class SilenceWatch {
  private readonly seen = new Map<string, { renewals: bigint; since: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = monotonicMs,
  ) {}

  /**
   * Records one poll of every session of the cluster. Returns those silent for at least the TTL
   * (with the count to reap them by), and the monotonic time at which the next one could become
   * due (Infinity when none).
   */
  observe(sessions: readonly SessionSighting[]): { due: SessionSighting[]; nextDueAt: number } {
    const now = this.now();
    const present = new Set<string>();
    const due: SessionSighting[] = [];
    let nextDueAt = Infinity;
    for (const { id, renewals } of sessions) {
      present.add(id);
      let entry = this.seen.get(id);
      if (entry?.renewals !== renewals) {
        entry = { renewals, since: now };
        this.seen.set(id, entry);
      }
      const dueAt = entry.since + this.ttlMs;
      if (dueAt <= now) due.push({ id, renewals });
      else nextDueAt = Math.min(nextDueAt, dueAt);
    }
    for (const id of this.seen.keys()) if (!present.has(id)) this.seen.delete(id);
    return { due, nextDueAt };
  }

  /** Drops every observation: each session must be watched for a full TTL again. */
  forget(): void {
    this.seen.clear();
  }
}
