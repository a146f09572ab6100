import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { monotonicMs } from '../../clock.js';
import type { LockdError } from '../../errors.js';
import type { RedisKeys } from './redis-keys.js';
import type { RedisLink } from './redis-link.js';
import { SCRIPTS } from './redis-scripts.js';
import type { RedisStore } from './redis-store.js';

/** One primary's part in a Redlock operation: its answer, or why it has none. */
export type Vote<T> = { kind: 'answer'; value: T } | { kind: 'failed'; error: LockdError } | { kind: 'abstained' };

/**
 * One independent primary of a Redlock backend: its `RedisStore` (the single-primary driver, whose
 * scripts it runs) and whether its answers count ("votes").
 *
 * Redlock's "delayed restart": a primary that lost its data (restarted without persistence, or
 * with the tail of its AOF lost) no longer knows the holder entries and counters it had
 * acknowledged, so it must not vote until every lease it may have vouched for has run out: one
 * lease TTL. The primary carries a boot marker (`P boot`: a random id and its server time of
 * creation, made by whoever finds it missing). Every connection's first call after connecting is
 * preceded by a look at the marker (`verify`), so no answer is counted from a connection whose
 * server has not been checked since it connected (a connection cannot outlive a restart):
 * - a marker this process has not seen before votes once it is one TTL old by the server's clock
 *   (a new lockd process joining running primaries votes at once);
 * - a marker whose id changed (the data were lost while this process ran), or one that was missing,
 *   votes only one TTL after this process saw it, on its own monotonic clock.
 * The TTL is the backend's; all replicas of a cluster must use the same (`leader.ttl`).
 */
export class RedlockMember {
  private markerId: string | undefined;
  private votesFrom = Infinity;
  private readonly verified = new Map<RedisLink, number>();

  constructor(
    readonly index: number,
    readonly store: RedisStore,
    /** The links the store answers on (renew and statements): each is checked after it connects. */
    private readonly links: readonly RedisLink[],
    private readonly keys: RedisKeys,
    private readonly ttlMs: number,
    private readonly deadlineMs: number,
    private readonly logger: Logger,
  ) {}

  /** Whether this primary's answers count now. */
  voting(): boolean {
    return monotonicMs() >= this.votesFrom;
  }

  /**
   * Runs `fn` on this primary and returns its answer, or `failed` (the call threw: for a write,
   * its outcome is unknown), or `abstained` (not voting yet, or a connection was replaced while
   * the call ran: the answer may come from a server this member has not checked). Never rejects.
   */
  async ask<T>(fn: (store: RedisStore) => Promise<T>): Promise<Vote<T>> {
    try {
      await this.verify();
      const before = this.generations();
      const value = await fn(this.store);
      if (this.generations() !== before || !this.voting()) return { kind: 'abstained' };
      return { kind: 'answer', value };
    } catch (err) {
      return { kind: 'failed', error: err as LockdError };
    }
  }

  /** Looks at the boot marker on every link that connected since it was last checked. */
  private async verify(): Promise<void> {
    await Promise.all(
      this.links.map(async (link) => {
        await link.ready();
        if (this.verified.get(link) === link.generation) return;
        const reply = await link.script(SCRIPTS.bootMark, [this.keys.boot], [randomUUID()], this.deadlineMs, 'read the boot marker');
        const [id, age] = Array.isArray(reply) ? (reply as unknown[]).map(String) : [];
        this.sighted(id ?? '', Number(age ?? 0));
        this.verified.set(link, link.generation);
      }),
    );
  }

  private sighted(id: string, ageMs: number): void {
    if (id === this.markerId) return;
    const first = this.markerId === undefined;
    this.markerId = id;
    const waitMs = first ? Math.max(0, this.ttlMs - Math.max(0, ageMs)) : this.ttlMs;
    this.votesFrom = Math.max(this.votesFrom === Infinity ? 0 : this.votesFrom, monotonicMs() + waitMs);
    if (!first || waitMs > 0) {
      this.logger.warn({ primary: this.index, waitMs: Math.round(waitMs) }, 'redlock: this primary is new or lost its data; it does not vote for one lease TTL (delayed restart)');
    }
  }

  private generations(): string {
    return this.links.map((l) => l.generation).join(',');
  }
}
