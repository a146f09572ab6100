import { BackendStorageError, LockdError } from '../../errors.js';
import { prefixRange } from '../rows/prefix-range.js';
import type { GuardRow, LiveRow, RowStore, Turn } from '../rows/row-store.js';
import type { PgAdvisoryLocks } from './pg-advisory.js';
import type { PgLink } from './pg-link.js';
import type { PushFeed } from '../rows/push-feed.js';
import type { SilenceReaper } from '../rows/silence-reaper.js';
import { releaseStatement } from './pg-schema.js';
import { POOLED_MESSAGE } from './pg-session-check.js';

/** SQLSTATE of an insert whose session row is gone. */
const FOREIGN_KEY_VIOLATION = '23503';

/** The SQLSTATE of the server error behind a translated error, if any. */
function sqlState(err: unknown): string | undefined {
  const code = ((err as { cause?: { code?: unknown } }).cause)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The connections a store spreads its calls over, by purpose. */
export interface PgLinks {
  /** Session opens and renewals only, so that a burst of other calls never delays a renewal. */
  renew: PgLink;
  /** Everything else, each call on the least busy one. */
  statements: readonly PgLink[];
}

/** Deadlines of the store's calls (ms). */
export interface PgDeadlines {
  renewMs: number;
  statementMs: number;
}

/**
 * The PostgreSQL driver (src/election/rows/row-store.ts) for one cluster in one schema: each
 * operation is one statement or one function call of pg-schema.ts, under a deadline of lockd's
 * own; a dead session is reaped by the reaper (pg-reaper.ts) by the observed-silence rule. Throws only lockd's
 * typed errors (see pg-errors.ts); a `BackendUnavailableError` from a write means its outcome is
 * unknown, and the caller settles it by reading (the writes are idempotent per session and token).
 */
export class PgStore implements RowStore {
  lastFailure: string | undefined;
  private readonly s: string;
  private readonly release: string;

  constructor(
    schema: string,
    private readonly cluster: string,
    private readonly links: PgLinks,
    private readonly deadlines: PgDeadlines,
    readonly changes: PushFeed,
    private readonly reaper: SilenceReaper,
    readonly advisory: PgAdvisoryLocks,
  ) {
    this.s = `"${schema}"`;
    this.release = releaseStatement(schema);
  }

  async openSession(id: string, ttlMs: number, info: string): Promise<void> {
    await this.call(
      this.links.renew,
      `INSERT INTO ${this.s}.sessions (id, cluster, info, expires_at)
       VALUES ($1, $2, $3::jsonb, clock_timestamp() + $4 * interval '1 millisecond') ON CONFLICT (id) DO NOTHING`,
      [id, this.cluster, info, ttlMs],
      'open session',
      this.deadlines.renewMs,
    );
  }

  async renewSession(id: string, ttlMs: number, staleTokens: readonly bigint[]): Promise<boolean> {
    const link = this.links.renew;
    const [row] = await this.call<{ alive: boolean; pid: number }>(
      link,
      `SELECT ${this.s}.renew($1, $2, $3, $4::bigint[]) AS alive, pg_backend_pid() AS pid`,
      [this.cluster, id, ttlMs, staleTokens.map(String)],
      'renew session',
      this.deadlines.renewMs,
    );
    // Consecutive statements on one connection reached different server processes: a pooler in
    // transaction mode is in between (see pg-session-check.ts).
    if (row !== undefined && link.backendPid !== undefined && row.pid !== link.backendPid) {
      throw this.failed(new BackendStorageError(POOLED_MESSAGE));
    }
    return row?.alive === true;
  }

  async deleteSession(id: string): Promise<void> {
    await this.statement(`SELECT ${this.s}.end_session($1, $2)`, [this.cluster, id], 'end session');
  }

  async insertHolder(session: string, name: string, hold: string, info: string | null, onlyIfFree: boolean, capacity: number): Promise<bigint | null | undefined> {
    let row: { token: string | null } | undefined;
    try {
      [row] = await this.statement<{ token: string | null }>(
        `SELECT ${this.s}.enqueue($1, $2, $3, $4, $5, $6, $7)::text AS token`,
        [this.cluster, name, session, hold, info, onlyIfFree, capacity],
        'queue a holder',
      );
    } catch (err) {
      // The session was reaped between enqueue's check and its insert (the foreign key).
      if (sqlState(err) === FOREIGN_KEY_VIOLATION) return undefined;
      throw err;
    }
    if (row?.token === null || row === undefined) return null;
    const token = BigInt(row.token);
    return token === -1n ? undefined : token;
  }

  async deleteHolder(session: string, token: bigint): Promise<void> {
    await this.statement(this.release, [this.cluster, session, String(token)], 'release a holder');
  }

  async turn(name: string, token: bigint, capacity: number): Promise<Turn> {
    const [row] = await this.statement<{ ahead: number; present: boolean | null }>(
      `SELECT (count(*) FILTER (WHERE token < $3))::int AS ahead, bool_or(token = $3) AS present
       FROM ${this.s}.holders WHERE cluster = $1 AND name = $2 AND token <= $3`,
      [this.cluster, name, String(token)],
      'look at a queue',
    );
    const present = row?.present === true;
    // A dead holder ahead is reaped by the reaper, whose NOTIFY (or the feed's fallback) wakes us.
    return { present, holder: present && Number(row?.ahead) < capacity, wakeAt: Infinity };
  }

  async liveRows(name: string): Promise<LiveRow[]> {
    const rows = await this.statement<{ token: string; info: string | null; remaining: number }>(
      `SELECT h.token::text AS token, h.info, (extract(epoch FROM s.expires_at - clock_timestamp()) * 1000)::float8 AS remaining
       FROM ${this.s}.holders h JOIN ${this.s}.sessions s ON s.id = h.session
       WHERE h.cluster = $1 AND h.name = $2 ORDER BY h.token`,
      [this.cluster, name],
      'read a queue',
    );
    return rows.map((r) => ({ token: BigInt(r.token), info: r.info, remainingMs: r.remaining }));
  }

  async rowsUnder(prefix: string): Promise<{ name: string; token: bigint; info: string | null }[]> {
    const rows = await this.statement<{ name: string; token: string; info: string | null }>(
      `SELECT name, token::text AS token, info FROM ${this.s}.holders WHERE cluster = $1 AND starts_with(name, $2) ORDER BY name COLLATE "C", token`,
      [this.cluster, prefix],
      'read the holders',
    );
    return rows.map((r) => ({ name: r.name, token: BigInt(r.token), info: r.info }));
  }

  async guardedPut(guards: readonly GuardRow[], key: string, value: string, ifAbsent: boolean): Promise<{ lost: GuardRow } | { written: boolean }> {
    const [row] = await this.statement<{ result: string }>(
      `SELECT ${this.s}.guarded_put($1, $2::uuid[], $3::text[], $4::bigint[], $5, $6, $7) AS result`,
      [this.cluster, guards.map((g) => g.session), guards.map((g) => g.name), guards.map((g) => String(g.token)), key, value, ifAbsent],
      `guarded write of ${key}`,
    );
    const result = row?.result ?? '';
    if (result === 'ok') return { written: true };
    if (result === 'exists') return { written: false };
    const lost = guards[Number(result.slice('lost:'.length)) - 1];
    if (!result.startsWith('lost:') || lost === undefined) {
      throw this.failed(new BackendStorageError(`postgres backend: guarded write of ${key}: unexpected answer "${result}"`));
    }
    return { lost };
  }

  /**
   * One statement, so one transaction: `guarded_put` checks the guards (holding their rows `FOR KEY
   * SHARE` until the commit, so no reaper removes them meanwhile) and writes the first entry; only
   * when it answered 'ok' does `put_value` write the others (the materialised CTE runs once, and
   * the join's filter on its answer is evaluated before any row of the rest is produced).
   */
  async guardedPutAll(guards: readonly GuardRow[], entries: readonly { key: string; value: string }[]): Promise<{ lost: GuardRow } | { written: true }> {
    const [first, ...rest] = entries;
    const [row] = await this.statement<{ result: string; rest: string }>(
      `WITH g AS MATERIALIZED (SELECT ${this.s}.guarded_put($1, $2::uuid[], $3::text[], $4::bigint[], $5, $6, false) AS result),
            r AS (SELECT ${this.s}.put_value($1, e.k, e.v) FROM g, unnest($7::text[], $8::text[]) AS e(k, v) WHERE g.result = 'ok')
       SELECT g.result, (SELECT count(*) FROM r)::text AS rest FROM g`,
      [this.cluster, guards.map((g) => g.session), guards.map((g) => g.name), guards.map((g) => String(g.token)), first?.key, first?.value, rest.map((e) => e.key), rest.map((e) => e.value)],
      `guarded write of ${entries.length} keys`,
    );
    const result = row?.result ?? '';
    if (result === 'ok' && row?.rest === String(rest.length)) return { written: true };
    const lost = guards[Number(result.slice('lost:'.length)) - 1];
    if (!result.startsWith('lost:') || lost === undefined) {
      throw this.failed(new BackendStorageError(`postgres backend: guarded write of ${entries.length} keys: unexpected answer "${result}" (${row?.rest ?? '?'} more written)`));
    }
    return { lost };
  }

  async put(key: string, value: string): Promise<void> {
    await this.statement(`SELECT ${this.s}.put_value($1, $2, $3)`, [this.cluster, key, value], `write of ${key}`);
  }

  async get(key: string): Promise<string | undefined> {
    const [row] = await this.statement<{ value: string }>(
      `SELECT value FROM ${this.s}.kv WHERE cluster = $1 AND key = $2`,
      [this.cluster, key],
      `read of ${key}`,
    );
    return row?.value;
  }

  async list(prefix: string): Promise<{ key: string; value: string }[]> {
    const { where, values } = this.underPrefix(prefix);
    return this.statement<{ key: string; value: string }>(
      `SELECT key, value FROM ${this.s}.kv WHERE ${where} ORDER BY key`,
      values,
      `list of ${prefix}`,
    );
  }

  async delete(key: string): Promise<void> {
    await this.statement(`SELECT ${this.s}.delete_value($1, $2)`, [this.cluster, key], `delete of ${key}`);
  }

  async fingerprint(prefix: string): Promise<string> {
    const { where, values } = this.underPrefix(prefix);
    const [row] = await this.statement<{ fingerprint: string }>(
      `SELECT count(*)::text || ':' || coalesce(max(rev), 0)::text AS fingerprint FROM ${this.s}.kv WHERE ${where}`,
      values,
      `watch of ${prefix}`,
    );
    return row?.fingerprint ?? '';
  }

  async close(): Promise<void> {
    this.reaper.stop();
    this.changes.stop();
    this.advisory.close();
    this.links.renew.close();
    for (const link of this.links.statements) link.close();
  }

  /** The keys of this cluster under `prefix`, as a range the primary key index serves (C collation). */
  private underPrefix(prefix: string): { where: string; values: unknown[] } {
    const { lower, upper } = prefixRange(prefix);
    return upper === null
      ? { where: 'cluster = $1 AND key >= $2 AND starts_with(key, $2)', values: [this.cluster, lower] }
      : { where: 'cluster = $1 AND key >= $2 AND key < $3', values: [this.cluster, lower, upper] };
  }

  private statement<R extends Record<string, unknown>>(text: string, values: unknown[], what: string): Promise<R[]> {
    const link = this.links.statements.reduce((best, l) => (l.inFlight < best.inFlight ? l : best));
    return this.call<R>(link, text, values, what, this.deadlines.statementMs);
  }

  private async call<R extends Record<string, unknown>>(link: PgLink, text: string, values: unknown[], what: string, deadlineMs: number): Promise<R[]> {
    try {
      const rows = await link.query<R>(text, values, deadlineMs, what, true);
      this.lastFailure = undefined;
      return rows;
    } catch (err) {
      throw this.failed(err as LockdError);
    }
  }

  private failed(err: LockdError): LockdError {
    this.lastFailure = err.message;
    return err;
  }
}
