import type Database from 'better-sqlite3';
import { LockdError } from '../../errors.js';
import { monotonicMs } from '../../clock.js';
import type { GuardRow, LiveRow, RowStore, Turn } from '../rows/row-store.js';
import { prefixRange } from '../rows/prefix-range.js';
import { ChangePoller } from './change-poller.js';
import { translateSqliteError } from './sqlite-errors.js';

/** The most writes one group commit takes: about a millisecond of SQLite work, plus one fsync. */
const MAX_GROUP = 128;

/** A write waiting for the next group commit. */
interface QueuedWrite {
  op: (now: number) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * The embedded backend's driver (row-store.ts) for one cluster, over an open lockd database.
 * Reads run synchronously (better-sqlite3) inside their promise; writes are group-committed
 * (`write`). Calls throw only lockd's typed errors: `BackendUnavailableError` when the database
 * stays busy beyond the timeout, `BackendStorageError` otherwise. Every write transaction runs in
 * `BEGIN IMMEDIATE` and first reaps dead sessions (past their CLOCK_MONOTONIC expiry, or of another boot), so a dead holder never
 * outlives the next write by anyone. Changes are noticed by polling `PRAGMA data_version`.
 */
export class EmbeddedStore implements RowStore {
  lastFailure: string | undefined;
  readonly changes: ChangePoller;
  private ownWrites = 0;
  private readonly queued: QueuedWrite[] = [];
  private flushPending = false;
  private readonly tx: Database.Transaction<(fn: () => unknown) => unknown>;
  private readonly sql;

  constructor(
    private readonly db: Database.Database,
    readonly file: string,
    private readonly cluster: string,
    private readonly bootId: string,
    private readonly busyTimeoutMs: number,
    pollIntervalMs: number,
  ) {
    this.changes = new ChangePoller(() => this.version(), pollIntervalMs);
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
      countHolders: db.prepare('SELECT count(*) FROM holders WHERE cluster = @cluster AND name = @name').pluck(),
      deleteHolder: db.prepare('DELETE FROM holders WHERE token = @token AND session = @session'),
      liveRows: db
        .prepare(
          `SELECT h.token AS token, h.info AS info, s.expires AS expires FROM holders h JOIN sessions s ON s.id = h.session
           WHERE h.cluster = @cluster AND h.name = @name AND h.token <= @upTo AND ${live} ORDER BY h.token`,
        )
        .safeIntegers(true),
      rowsUnder: db
        .prepare(
          `SELECT h.name AS name, h.token AS token, h.info AS info FROM holders h JOIN sessions s ON s.id = h.session
           WHERE h.cluster = @cluster AND substr(h.name, 1, length(@prefix)) = @prefix AND ${live} ORDER BY h.name, h.token`,
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

  async openSession(id: string, ttlMs: number, info: string): Promise<void> {
    await this.write((now) => this.sql.insertSession.run({ id, boot: this.bootId, expires: Math.floor(now) + ttlMs, info }), 'first');
  }

  async renewSession(id: string, ttlMs: number, staleTokens: readonly bigint[]): Promise<boolean> {
    return this.write((now) => {
      // A dead session is reaped before this update, so it can never be brought back to life.
      if (this.sql.renewSession.run({ id, expires: Math.floor(now) + ttlMs }).changes === 0) return false;
      for (const token of staleTokens) this.sql.deleteHolder.run({ token, session: id });
      return true;
    }, 'first');
  }

  async deleteSession(id: string): Promise<void> {
    await this.write(() => {
      this.sql.deleteSessionHolders.run(id);
      this.sql.deleteSession.run(id);
    });
  }

  /** The token is the next revision. One transaction, so a retry cannot have a lost outcome. */
  // No `hold` column: every call inserts a row of its own (a local call has no unknown outcome to retry).
  async insertHolder(session: string, name: string, _hold: string, info: string | null, onlyIfFree: boolean, capacity: number): Promise<bigint | null | undefined> {
    return this.write(() => {
      // Reaped already if dead: a row must never be added to a session nobody renews.
      if (this.sql.sessionExists.get(session) === undefined) return undefined;
      // After the reap every remaining row is live: `capacity` rows mean every seat is held (or queued for).
      if (onlyIfFree && (this.sql.countHolders.get({ cluster: this.cluster, name }) as number) >= capacity) return null;
      // The token comes from the same transaction as the row: order of arrival, strictly increasing.
      const token = this.sql.nextRevision.get() as bigint;
      this.sql.insertHolder.run({ token, cluster: this.cluster, name, session, info, created: new Date().toISOString() });
      return token;
    });
  }

  async deleteHolder(session: string, token: bigint): Promise<void> {
    await this.write(() => this.sql.deleteHolder.run({ token, session }));
  }

  /** By a read that takes no lock; `wakeAt` is the earliest expiry of a row ahead. */
  async turn(name: string, token: bigint, capacity: number): Promise<Turn> {
    const rows = this.rowsUpTo(name, token);
    const present = rows.at(-1)?.token === token;
    const ahead = present ? rows.slice(0, -1) : rows;
    return { present, holder: present && ahead.length < capacity, wakeAt: Math.min(...ahead.map((r) => r.expires)) };
  }

  /** By a read that takes no lock. */
  async liveRows(name: string): Promise<LiveRow[]> {
    const now = monotonicMs();
    return this.rowsUpTo(name, 2n ** 63n - 1n).map((r) => ({ token: r.token, info: r.info, remainingMs: r.expires - now }));
  }

  /** By a read that takes no lock. */
  async rowsUnder(prefix: string): Promise<{ name: string; token: bigint; info: string | null }[]> {
    return this.read(
      () => this.sql.rowsUnder.all({ cluster: this.cluster, prefix, boot: this.bootId, now: monotonicMs() }) as { name: string; token: bigint; info: string | null }[],
    );
  }

  /** The live rows of `name` up to token `upTo`, in token order, with their monotonic expiry. */
  private rowsUpTo(name: string, upTo: bigint): { token: bigint; info: string | null; expires: number }[] {
    return this.read(() =>
      (this.sql.liveRows.all({ cluster: this.cluster, name, upTo, boot: this.bootId, now: monotonicMs() }) as {
        token: bigint;
        info: string | null;
        expires: bigint;
      }[]).map((r) => ({ token: r.token, info: r.info, expires: Number(r.expires) })),
    );
  }

  async guardedPut(guards: readonly GuardRow[], key: string, value: string, ifAbsent: boolean): Promise<{ lost: GuardRow } | { written: boolean }> {
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

  async guardedPutAll(guards: readonly GuardRow[], entries: readonly { key: string; value: string }[]): Promise<{ lost: GuardRow } | { written: true }> {
    return this.write(() => {
      for (const g of guards) {
        // The fence, as in guardedPut: checked in the same BEGIN IMMEDIATE transaction as the writes.
        if (this.sql.guardHolds.get({ token: g.token, session: g.session, cluster: this.cluster, name: g.name }) === undefined) {
          return { lost: g };
        }
      }
      for (const { key, value } of entries) this.upsert(key, value);
      return { written: true as const };
    });
  }

  async put(key: string, value: string): Promise<void> {
    await this.write(() => this.upsert(key, value));
  }

  async get(key: string): Promise<string | undefined> {
    return this.read(() => this.sql.getValue.get({ cluster: this.cluster, key }) as string | undefined);
  }

  async list(prefix: string): Promise<{ key: string; value: string }[]> {
    return this.read(() => this.sql.listValues.all({ cluster: this.cluster, ...prefixRange(prefix) }) as { key: string; value: string }[]);
  }

  async delete(key: string): Promise<void> {
    await this.write(() => this.sql.deleteValue.run({ cluster: this.cluster, key }));
  }

  async fingerprint(prefix: string): Promise<string> {
    return this.read(() => this.sql.fingerprint.get({ cluster: this.cluster, ...prefixRange(prefix) }) as string);
  }

  /** Changes after any commit by anyone, this connection included (SQLite counts only others'). */
  version(): number {
    return this.read(() => (this.sql.dataVersion.get() as number) + this.ownWrites);
  }

  async close(): Promise<void> {
    this.changes.stop();
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
      throw this.translate(err);
    }
  }

  /**
   * Queues `op` for the next group commit and resolves (or rejects) with its outcome once that
   * transaction committed. Every write queued within one turn of the event loop commits in one
   * `BEGIN IMMEDIATE` transaction (at most `MAX_GROUP` at a time): one fsync for a burst of
   * writes instead of one each, which was most of a burst's time. Each op runs in a savepoint of
   * its own, in queue order (`first`: renewals and session opens go ahead of the queue, so a
   * burst never delays a lease), so one that throws is rolled back alone and rejects alone; if
   * the transaction itself fails (the database stays busy, the disk fails), nothing of the group
   * was written and every op rejects with that error.
   */
  private write<T>(op: (now: number) => T, place: 'first' | 'last' = 'last'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: QueuedWrite = { op, resolve: resolve as (value: unknown) => void, reject };
      if (place === 'first') this.queued.unshift(entry);
      else this.queued.push(entry);
      if (!this.flushPending) {
        this.flushPending = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits the next group of queued writes; see `write`. */
  private flush(): void {
    const group = this.queued.splice(0, MAX_GROUP);
    this.flushPending = this.queued.length > 0;
    if (this.flushPending) setImmediate(() => this.flush());
    if (this.db.open === false) {
      const closed = this.translate(new Error('The database connection is not open'));
      for (const entry of group) entry.reject(closed);
      return;
    }
    let outcomes: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }>;
    try {
      outcomes = this.tx.immediate(() => {
        // Read the clock only once the write lock is ours: waiting for it may have taken seconds.
        const now = monotonicMs();
        this.sql.reapHolders.run({ boot: this.bootId, now });
        this.sql.reapSessions.run({ boot: this.bootId, now });
        return group.map((entry) => {
          try {
            return { ok: true as const, value: this.tx(() => entry.op(now)) };
          } catch (err) {
            return { ok: false as const, err: this.translate(err) };
          }
        });
      }) as typeof outcomes;
      this.ownWrites++;
      this.lastFailure = undefined;
    } catch (err) {
      const failed = this.translate(err);
      for (const entry of group) entry.reject(failed);
      return;
    }
    group.forEach((entry, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) entry.resolve(outcome.value);
      else entry.reject(outcome.err);
    });
  }

  /** lockd's typed error for a SQLite failure, remembered as the last failure. */
  private translate(err: unknown): unknown {
    const translated = translateSqliteError(err, this.file, this.busyTimeoutMs);
    if (translated instanceof LockdError) this.lastFailure = translated.message;
    return translated;
  }
}
