import type { Logger } from 'pino';
import type { AdvisoryLocks } from '../rows/row-store.js';
import type { PgConnectOptions } from './pg-link.js';
import { PgLink } from './pg-link.js';

/**
 * Session advisory locks (`pg_try_advisory_lock(bigint)`, the key space other code uses) held on
 * one connection of their own for as long as lockd holds the matching leases. PostgreSQL grants a
 * session's own lock again, so a key already held here is refused locally. A lost connection
 * releases every key on the server: each holder's `onLost` runs then.
 */
export class PgAdvisoryLocks implements AdvisoryLocks {
  private readonly link: PgLink;
  /** Held keys (as decimal text) and what to tell their holders when the connection is lost. */
  private readonly held = new Map<string, () => void>();

  constructor(
    connect: Omit<PgConnectOptions, 'onConnect' | 'onDisconnect'>,
    private readonly deadlineMs: number,
    private readonly logger: Logger,
  ) {
    this.link = new PgLink({ ...connect, onDisconnect: () => this.lostAll() }, 'advisory');
  }

  async tryLock(key: bigint, onLost: () => void): Promise<(() => Promise<void>) | null> {
    const id = String(key);
    if (this.held.has(id)) return null;
    // Reserved before the call, so that a concurrent try of the same key here is refused too.
    this.held.set(id, onLost);
    let ok = false;
    try {
      const [row] = await this.link.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [id], this.deadlineMs, 'advisory lock');
      ok = row?.ok === true;
    } finally {
      if (!ok) this.held.delete(id);
    }
    return ok ? () => this.unlock(id, onLost) : null;
  }

  close(): void {
    this.held.clear();
    this.link.close();
  }

  private async unlock(id: string, onLost: () => void): Promise<void> {
    if (this.held.get(id) !== onLost) return;
    this.held.delete(id);
    try {
      await this.link.query('SELECT pg_advisory_unlock($1::bigint)', [id], this.deadlineMs, 'advisory unlock');
    } catch (err) {
      // A failed transport dropped the connection, and with it every advisory lock on it.
      this.logger.warn({ key: id, err: (err as Error).message }, 'advisory unlock failed; its connection was closed, which releases it');
    }
  }

  private lostAll(): void {
    const holders = [...this.held.values()];
    this.held.clear();
    for (const onLost of holders) onLost();
  }
}
