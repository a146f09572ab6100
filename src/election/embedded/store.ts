import type Database from 'better-sqlite3';
import { LockdError } from '../../errors.js';
import { monotonicMs } from '../../clock.js';
import { translateSqliteError } from './sqlite-errors.js';

/** A lease as the database sees it: its row's token, in `session`, for the internal name `name`. */
export interface GuardRow {
  name: string;
  token: bigint;
  session: string;
}

/** Where a waiting row stands: whether it still exists, whether it holds, when to look again. */
export interface Turn {
  present: boolean;
  holder: boolean;
  /** Monotonic ms at which the earliest live row ahead expires; Infinity when none is ahead. */
  wakeAt: number;
}

/**
 * The SQL of the embedded backend for one cluster, over an open lockd database. Every method is
 * synchronous (better-sqlite3) and throws only lockd's typed errors: `BackendUnavailableError`
 * when the database stays busy beyond the timeout, `BackendStorageError` otherwise. Every write
 * runs in `BEGIN IMMEDIATE` and first reaps dead sessions, so a dead holder never outlives the
 * next write by anyone.
 */
export class EmbeddedStore {
  /** The message of the last failed call, cleared by the next success; for `health()`. */
  lastFailure: string | undefined;
  private ownWrites = 0;
  private readonly tx: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly sql;

  constructor(
    private readonly db: Database.Database,
    readonly file: string,
    private readonly cluster: string,
    private readonly bootId: string,
    private readonly busyTimeoutMs: number,
  ) {
    this.tx = db.transaction((fn: () => unknown) => fn());
    const live = 's.boot_id = @boot AND s.expires > @now';
    // The range lets the primary key index find the rows; substr() alone decides (see prefixRange).
    // Both bounds as plain comparisons, so SQLite walks only the prefix's range of the index (an
    // `OR` here made it scan from the lower bound to the end of the table).
    const underPrefix = "key >= @lower AND key < coalesce(@upper, char(1114111)) AND substr(key, 1, length(@lower)) = @lower";
    this.sql = {
      reapHolders: db.prepare('DELETE FROM holders WHERE session IN (SELECT id FROM sessions WHERE boot_id <> @boot OR expires <= @now)'),
      reapSessions: db.prepare('DELETE FROM sessions WHERE boot_id <> @boot OR expires <= @now'),
      nextRevision: db.prepare("UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value").pluck().safeIntegers(true),
      insertSession: db.prepare('INSERT INTO sessions (id, boot_id, expires, info) VALUES (@id, @boot, @expires, @info)'),
      renewSession: db.prepare('UPDATE sessions SET expires = @expires WHERE id = @id'),
      sessionExists: db.prepare('SELECT 1 FROM sessions WHERE id = ?').pluck(),
      deleteSessionHolders: db.prepare('DELETE FROM holders WHERE session = ?'),
      deleteSession: db.prepare('DELETE FROM sessions WHERE id = ?'),
      insertHolder: db.prepare(
        'INSERT INTO holders (token, cluster, name, session, info, created) VALUES (@token, @cluster, @name, @session, @info, @created)',
      ),
      anyHolder: db.prepare('SELECT 1 FROM holders WHERE cluster = @cluster AND name = @name LIMIT 1').pluck(),
      deleteHolder: db.prepare('DELETE FROM holders WHERE token = @token AND session = @session'),
      liveRows: db
        .prepare(
          `SELECT h.token AS token, h.info AS info, s.expires AS expires FROM holders h JOIN sessions s ON s.id = h.session
           WHERE h.cluster = @cluster AND h.name = @name AND h.token <= @upTo AND ${live} ORDER BY h.token`,
        )
        .safeIntegers(true),
      guardHolds: db
        .prepare(
          `SELECT 1 FROM holders h WHERE h.token = @token AND h.session = @session AND h.cluster = @cluster AND h.name = @name
           AND NOT EXISTS (SELECT 1 FROM holders o WHERE o.cluster = h.cluster AND o.name = h.name AND o.token < h.token)`,
        )
        .pluck(),
      getValue: db.prepare('SELECT value FROM kv WHERE cluster = @cluster AND key = @key').pluck(),
      upsertValue: db.prepare(
        `INSERT INTO kv (cluster, key, value, rev) VALUES (@cluster, @key, @value, @rev)
         ON CONFLICT (cluster, key) DO UPDATE SET value = excluded.value, rev = excluded.rev`,
      ),
      deleteValue: db.prepare('DELETE FROM kv WHERE cluster = @cluster AND key = @key'),
      listValues: db.prepare(
        `SELECT key, value FROM kv WHERE cluster = @cluster AND ${underPrefix} ORDER BY key`,
      ),
      fingerprint: db
        .prepare(
          `SELECT count(*) || ':' || coalesce(max(rev), 0) FROM kv WHERE cluster = @cluster AND ${underPrefix}`,
        )
        .pluck(),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
    };
  }

  /** Inserts session `id` expiring `ttlMs` from now. */
  openSession(id: string, ttlMs: number, info: string): void {
    this.write((now) => this.sql.insertSession.run({ id, boot: this.bootId, expires: Math.floor(now) + ttlMs, info }));
  }

  /**
   * Extends session `id` to `ttlMs` from now and deletes its rows `staleTokens` (left behind by a
   * release that failed). False when the session is gone: expired, and so reaped right here.
   */
  renewSession(id: string, ttlMs: number, staleTokens: readonly bigint[]): boolean {
    return this.write((now) => {
      // A dead session is reaped before this update, so it can never be brought back to life.
      if (this.sql.renewSession.run({ id, expires: Math.floor(now) + ttlMs }).changes === 0) return false;
      for (const token of staleTokens) this.sql.deleteHolder.run({ token, session: id });
      return true;
    });
  }

  /** Deletes session `id` and all its rows (no-op when already gone). */
  deleteSession(id: string): void {
    this.write(() => {
      this.sql.deleteSessionHolders.run(id);
      this.sql.deleteSession.run(id);
    });
  }

  /**
   * Queues a row for `name` in `session` and returns its token (the next revision). With
   * `onlyIfFree`, returns null instead when `name` has any row. Undefined when the session is gone.
   */
  insertHolder(session: string, name: string, info: string | null, onlyIfFree: boolean): bigint | null | undefined {
    return this.write(() => {
      // Reaped already if dead: a row must never be added to a session nobody renews.
      if (this.sql.sessionExists.get(session) === undefined) return undefined;
      // After the reap every remaining row is live, so any row means the name is held (or queued for).
      if (onlyIfFree && this.sql.anyHolder.get({ cluster: this.cluster, name }) !== undefined) return null;
      // The token comes from the same transaction as the row: order of arrival, strictly increasing.
      const token = this.sql.nextRevision.get() as bigint;
      this.sql.insertHolder.run({ token, cluster: this.cluster, name, session, info, created: new Date().toISOString() });
      return token;
    });
  }

  /** Deletes the row `token` of `session` (no-op when already gone). */
  deleteHolder(session: string, token: bigint): void {
    this.write(() => this.sql.deleteHolder.run({ token, session }));
  }

  /** Where row `token` of `name` stands, by a read that takes no lock. */
  turn(name: string, token: bigint): Turn {
    const rows = this.liveRows(name, token);
    const present = rows.at(-1)?.token === token;
    const ahead = present ? rows.slice(0, -1) : rows;
    return { present, holder: present && ahead.length === 0, wakeAt: Math.min(...ahead.map((r) => r.expires)) };
  }

  /** The live rows of `name` in token order (the holder first), by a read that takes no lock. */
  liveRows(name: string, upTo = 2n ** 63n - 1n): { token: bigint; info: string | null; expires: number }[] {
    return this.read(() =>
      (this.sql.liveRows.all({ cluster: this.cluster, name, upTo, boot: this.bootId, now: monotonicMs() }) as {
        token: bigint;
        info: string | null;
        expires: bigint;
      }[]).map((r) => ({ token: r.token, info: r.info, expires: Number(r.expires) })),
    );
  }

  /**
   * Writes `key = value` if every guard still holds its name (row present, session live, lowest
   * token), all in one transaction. Returns the first guard that does not hold, or whether it wrote
   * (false only for `ifAbsent` on an existing key).
   */
  guardedPut(guards: readonly GuardRow[], key: string, value: string, ifAbsent: boolean): { lost: GuardRow } | { written: boolean } {
    return this.write(() => {
      for (const g of guards) {
        // The fence: the guard's row survived the reap above, so its session is live, and it is first.
        if (this.sql.guardHolds.get({ token: g.token, session: g.session, cluster: this.cluster, name: g.name }) === undefined) {
          return { lost: g };
        }
      }
      // Checked inside the transaction, so two writers cannot both find the key absent.
      if (ifAbsent && this.sql.getValue.get({ cluster: this.cluster, key }) !== undefined) return { written: false };
      this.upsert(key, value);
      return { written: true };
    });
  }

  put(key: string, value: string): void {
    this.write(() => this.upsert(key, value));
  }

  get(key: string): string | undefined {
    return this.read(() => this.sql.getValue.get({ cluster: this.cluster, key }) as string | undefined);
  }

  list(prefix: string): { key: string; value: string }[] {
    return this.read(() => this.sql.listValues.all({ cluster: this.cluster, ...prefixRange(prefix) }) as { key: string; value: string }[]);
  }

  delete(key: string): void {
    this.write(() => this.sql.deleteValue.run({ cluster: this.cluster, key }));
  }

  /** Changes whenever any key under `prefix` is written or deleted between two calls. */
  fingerprint(prefix: string): string {
    return this.read(() => this.sql.fingerprint.get({ cluster: this.cluster, ...prefixRange(prefix) }) as string);
  }

  /** Changes after any commit by anyone, this connection included (SQLite counts only others'). */
  version(): number {
    return this.read(() => (this.sql.dataVersion.get() as number) + this.ownWrites);
  }

  close(): void {
    this.db.close();
  }

  private upsert(key: string, value: string): void {
    // rev lets a watcher see that the prefix changed even when the row count did not.
    this.sql.upsertValue.run({ cluster: this.cluster, key, value, rev: this.sql.nextRevision.get() as bigint });
  }

  private read<T>(fn: () => T): T {
    try {
      const result = fn();
      this.lastFailure = undefined;
      return result;
    } catch (err) {
      const translated = translateSqliteError(err, this.file, this.busyTimeoutMs);
      if (translated instanceof LockdError) this.lastFailure = translated.message;
      throw translated;
    }
  }

  private write<T>(fn: (now: number) => T): T {
    return this.read(() => {
      const result = this.tx.immediate(() => {
        // Read the clock only once the write lock is ours: waiting for it may have taken seconds.
        const now = monotonicMs();
        this.sql.reapHolders.run({ boot: this.bootId, now });
        this.sql.reapSessions.run({ boot: this.bootId, now });
        return fn(now);
      }) as T;
      this.ownWrites++;
      return result;
    });
  }
}

/**
 * Bounds of the keys starting with `prefix`: [prefix, prefix with its last character incremented).
 * Incrementing is only sound below the surrogate range; above it there is no upper bound and the
 * query's substr() test does the filtering alone.
 */
function prefixRange(prefix: string): { lower: string; upper: string | null } {
  const last = prefix.charCodeAt(prefix.length - 1);
  if (prefix === '' || last >= 0xd7ff) return { lower: prefix, upper: null };
  return { lower: prefix, upper: prefix.slice(0, -1) + String.fromCharCode(last + 1) };
}
