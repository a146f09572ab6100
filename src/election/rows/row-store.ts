/**
 * The driver contract of the backends that keep leases as rows: embedded (SQLite) and PostgreSQL.
 * One core (`row-backend.ts`, `row-session.ts`, `row-lease.ts`, `wait-turn.ts`) implements the
 * Backend contract on top of it, as Curator shares one lock core between mutex and semaphore; a
 * driver only maps these operations to its store, each in one transaction (one round trip).
 *
 * The model, the same in every store:
 * - a **session** row per open Backend, renewed by its owner; a driver decides when a silent
 *   session is dead (embedded: its monotonic expiry on this host; PostgreSQL: observed silence,
 *   see `silence-watch.ts`) and then deletes it with its holder rows ("reaps" it);
 * - a **holder** row per candidate, lock waiter or seat waiter, `(name, token, session)`; a name
 *   has a **capacity** k (1 for the election and locks, the seat count for a seat set `seat/<x>`),
 *   and its holders are its live rows with fewer than k live rows of lower token (k = 1: the
 *   lowest); tokens come from one counter advanced in the transaction that inserts the row, so
 *   they grow strictly in order of arrival. The capacity is not stored: each caller passes its
 *   own, and judges its own row by it;
 * - **kv** rows for data keys, each write giving its row a new, higher revision (`rev`; embedded:
 *   the same counter, PostgreSQL: a sequence), so a watcher can tell a prefix changed.
 *
 * Every method throws only lockd's typed errors: `BackendUnavailableError` (retryable: busy,
 * unreachable, timed out; for a write, the outcome may be unknown), `BackendStorageError` (not).
 */

import type { DataLoss } from '../backend.js';
import type { FeedPace } from './paced-ticker.js';

/** A lease as the store sees it: its row's token, in `session`, for the internal name `name`. */
export interface GuardRow {
  name: string;
  token: bigint;
  session: string;
}

/** Where a waiting row stands: whether it still exists, whether it holds, when to look again. */
export interface Turn {
  present: boolean;
  holder: boolean;
  /** Monotonic ms at which the earliest live row ahead may be reaped; Infinity when none is known. */
  wakeAt: number;
}

/** A live holder row of a name, for `observe`. */
export interface LiveRow {
  token: bigint;
  info: string | null;
  /** How long its session lasts without another renewal, by the store's reckoning. */
  remainingMs: number;
}

/**
 * Tells waiters and watchers that the store may have changed. `listener(true)`: something may
 * have changed, look; `listener(false)`: a plain tick, for waits that are due at a time
 * (`Turn.wakeAt`). Ticks come only while someone listens.
 */
export interface ChangeFeed {
  /**
   * Calls `listener(changed)` on each look; `pace` says how soon it needs to hear of a change
   * (default `turn`; see `FeedPace`). Listeners must not throw. Returns the unsubscribe function.
   */
  subscribe(listener: (changed: boolean) => void, pace?: FeedPace): () => void;
  /** Stops ticking and forgets every listener. */
  stop(): void;
}

/** Session advisory locks of a store that has them (PostgreSQL), held on a connection of their own. */
export interface AdvisoryLocks {
  /**
   * Takes advisory lock `key`; null when another session holds it, or a lease of this backend
   * already does (the server would grant it again on the same connection). `onLost` runs if the
   * connection, and so the lock, is lost while held. Resolves the unlock (never rejects).
   */
  tryLock(key: bigint, onLost: () => void): Promise<(() => Promise<void>) | null>;
  close(): void;
}

export interface RowStore {
  /** The message of the last failed call, cleared by the next success; for `health()`. */
  readonly lastFailure: string | undefined;
  /** Present when the store can detect a loss of its data (Redis): how many it detected. */
  readonly dataLossesDetected?: number;
  /** Present when the store can detect a loss of its data: `Backend.dataLoss`. */
  dataLoss?(signal?: AbortSignal): Promise<DataLoss | null>;
  readonly changes: ChangeFeed;
  /** Present when the store offers advisory locks (`Backend.holdAdvisoryLock`). */
  readonly advisory?: AdvisoryLocks;
  /** Inserts session `id`, live for `ttlMs` from now. */
  openSession(id: string, ttlMs: number, info: string): Promise<void>;
  /**
   * Extends session `id` by `ttlMs` and deletes its rows `staleTokens` (left behind by a release
   * that failed). False when the session is gone (reaped): it must never be brought back.
   */
  renewSession(id: string, ttlMs: number, staleTokens: readonly bigint[]): Promise<boolean>;
  /** Deletes session `id` and all its rows (no-op when already gone). */
  deleteSession(id: string): Promise<void>;
  /**
   * Queues a row for `name` in `session` and returns its token. With `onlyIfFree`, returns null
   * instead when `name` has `capacity` or more live rows (held or queued for: a try never jumps
   * the queue). Undefined when the session is gone. `hold` tells apart several rows of one name in
   * one session (the seats of a set one backend holds at once): `''` for a lock or the election,
   * a string unique within the session for each seat hold. Idempotent per (session, name, hold):
   * a retry after an unknown outcome returns the row already queued.
   */
  insertHolder(session: string, name: string, hold: string, info: string | null, onlyIfFree: boolean, capacity: number): Promise<bigint | null | undefined>;
  /** Deletes row `token` of `session` (no-op when already gone). */
  deleteHolder(session: string, token: bigint): Promise<void>;
  /** Where row `token` of `name` stands: it holds when fewer than `capacity` live rows are ahead. */
  turn(name: string, token: bigint, capacity: number): Promise<Turn>;
  /** The live rows of `name` in token order, the holder first. */
  liveRows(name: string): Promise<LiveRow[]>;
  /** The live rows of every name starting with `prefix`, by name, then token. */
  rowsUnder(prefix: string): Promise<{ name: string; token: bigint; info: string | null }[]>;
  /**
   * Writes `key = value` if every guard still holds its name (row present, session live, lowest
   * token: guards are never seats), in one transaction. Returns the first guard that does not hold, or whether it wrote
   * (false only for `ifAbsent` on an existing key).
   */
  guardedPut(guards: readonly GuardRow[], key: string, value: string, ifAbsent: boolean): Promise<{ lost: GuardRow } | { written: boolean }>;
  /**
   * Writes every entry (overwriting) if every guard still holds its name, as `guardedPut` checks
   * it, all in one transaction: all written, or none. The core has checked the entries
   * (`checkPutAll`: at most 100, distinct keys) and that there is at least one.
   */
  guardedPutAll(guards: readonly GuardRow[], entries: readonly { key: string; value: string }[]): Promise<{ lost: GuardRow } | { written: true }>;
  put(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  /** Every key starting with `prefix`, sorted by key (code point order). */
  list(prefix: string): Promise<{ key: string; value: string }[]>;
  delete(key: string): Promise<void>;
  /** Changes whenever any key under `prefix` is written or deleted between two calls. */
  fingerprint(prefix: string): Promise<string>;
  /** Closes the connection(s). The core has ended its session first. */
  close(): Promise<void>;
}
