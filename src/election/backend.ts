import { UsageError } from '../errors.js';

/**
 * The backend contract. The scheduler, runner, daemon and CLI speak only this; nothing here knows
 * about cron. Every implementation is tested by the one conformance suite in
 * `test/conformance/backend-conformance.ts`.
 *
 * Names are logical; each backend maps them to its own layout (DESIGN §3):
 * - the election: etcd `lockd/<cluster>/leader`, ZooKeeper `/lockd/<cluster>/leader`;
 * - lock `NAME`: etcd `lockd/<cluster>/lock/NAME`, ZooKeeper `/lockd/<cluster>/locks/NAME`;
 * - seat set `NAME`: etcd keys `lockd/<cluster>/seat/NAME/<lease hex>`, ZooKeeper a Curator
 *   InterProcessSemaphoreV2 on `/lockd/<cluster>/seats/NAME`, row backends holder rows `seat/NAME`
 *   (locks are `lock/NAME`): a seat set and a lock of the same name never meet;
 * - data key `K` (e.g. `runs/<job>/<slot ms>`, `jobs/<job>`): etcd `lockd/<cluster>/K`,
 *   ZooKeeper `/lockd/<cluster>/K`, embedded: a row keyed `K` in the cluster's table.
 */

/** Strictly increasing per lock name, per seat set (and for the election), across holders and sessions. */
export type FencingToken = bigint;

/** Who a candidate (or lock holder) is; stored as JSON in the candidate's key. */
export interface CandidateInfo {
  node: string;
  host: string;
  pid: number;
  /** ISO-8601 UTC time the candidate started campaigning. */
  since: string;
}

/** Proof of ownership of the election, of a lock or of a seat. */
export interface Lease {
  /** `'leader'` for the election, else the lock (or seat set) name. */
  readonly name: string;
  readonly token: FencingToken;
  /**
   * Aborted, with a `LeadershipLostError` as reason, on the first of: the local self-fencing
   * deadline passing (monotonic clock), the backend reporting loss, a failed ownership re-check
   * after reconnect, or `release()`. Never un-aborts.
   */
  readonly signal: AbortSignal;
  /**
   * Synchronous check on the monotonic clock: true while the self-fencing deadline has not passed,
   * the signal is not aborted, and the session is not suspended (ZooKeeper: a missed heartbeat or
   * a disconnect, until ownership is re-checked). The scheduler calls this right before starting a child, since
   * after a SIGSTOP timers fire in any order and the abort may not have run yet.
   */
  isValid(): boolean;
  /** Milliseconds (monotonic) until the self-fencing deadline; <= 0 when past. */
  remainingMs(): number;
  /** Gives ownership up (deletes the key/node/row) and aborts `signal`. Idempotent; never throws. */
  release(): Promise<void>;
  /** The backend session this lease lives in, as named to the `SessionWatch`. */
  readonly sessionId: string;
}

/** What `observe` sees: the current leader (if any) and everyone campaigning, leader first. */
export interface ElectionView {
  /**
   * `leaseRemainingMs`: how long the leader's lease lasts without another renewal, when the
   * backend can tell (etcd: the lease's TTL left, whole seconds; embedded: its session's expiry;
   * ZooKeeper does not expose a session's remaining time).
   */
  leader: (CandidateInfo & { token: FencingToken; leaseRemainingMs?: number }) | null;
  /** All candidates in election order (the leader, when there is one, first). */
  candidates: CandidateInfo[];
}

/** A held lock as `locks()` sees it. */
export interface LockView {
  name: string;
  /** The holder's fencing token. */
  token: FencingToken;
  /** Who holds it; null for a foreign holder that wrote no info (e.g. `etcdctl lock`). */
  holder: CandidateInfo | null;
  /** How many wait behind the holder (of a seat set: behind all its holders). */
  waiting: number;
  /** Set for a seat set's holder: the set's seat count; a set lists one entry per holder. */
  seats?: number;
}

export interface KeyValue {
  key: string;
  value: string;
}

/**
 * A loss of the backend's data that the backend detected and recorded (Redis restarted without
 * persistence, or with its AOF/RDB lost): every session, lock, run record and job state of the
 * lost data is gone, and a new, empty layout (`epoch`) is in force.
 */
export interface DataLoss {
  /** The id of the layout made after the loss. */
  epoch: string;
  /** The id of the layout that was lost. */
  lostEpoch: string;
  /**
   * Epoch ms: the latest time any lockd that reported the loss had seen the lost data intact (a
   * call answered). Nothing was recorded in the lost data after it; slots up to it may have run.
   */
  aliveUntilMs: number;
  /** Epoch ms by the backend's clock: when the loss was first recorded. */
  detectedAtMs: number;
}

/** Health of the backend session, for `/readyz` and `lockd_backend_up`. */
export interface BackendHealth {
  /** How many losses of the backend's data this process detected (`lockd_backend_data_loss_total`); absent where a backend cannot tell. */
  dataLossesDetected?: number;
  up: boolean;
  /** Why it is not up (e.g. `keep-alive not acknowledged for 4.1s`). */
  reason?: string;
  /** Milliseconds until the session's self-fencing deadline, when a session exists. */
  sessionRemainingMs?: number;
}

export interface Backend {
  readonly kind: 'etcd' | 'zookeeper' | 'embedded' | 'postgres' | 'redis';
  /** The lease TTL in ms (etcd lease TTL, ZooKeeper session timeout, embedded row expiry). */
  readonly ttlMs: number;

  /**
   * Campaigns for leadership and resolves once this candidate leads (its key is the oldest).
   * Candidates win in order of arrival. Rejects with the signal's reason if aborted, leaving no
   * key behind. If the session was lost, a new one is opened first.
   */
  campaign(me: CandidateInfo, opts?: { signal?: AbortSignal }): Promise<Lease>;
  /** Reads the election without taking part. Throws `BackendUnavailableError` if unreachable. */
  observe(): Promise<ElectionView>;
  /**
   * Every held lock of the cluster (job locks, `lockd lock`, library locks; not the election),
   * and each holder of a seat set (with `seats`), sorted by name, without taking part. Throws
   * `BackendUnavailableError` if unreachable.
   */
  locks(): Promise<LockView[]>;
  /**
   * Takes lock `name` if free, else returns null (held by anyone, including a foreign client such
   * as `etcdctl lock` or Curator). At most one acquire/hold per name per Backend: a second
   * concurrent one throws `UsageError`.
   */
  tryAcquire(name: string, opts?: { signal?: AbortSignal; info?: CandidateInfo }): Promise<Lease | null>;
  /** Waits for lock `name` in order of arrival. Rejects with the signal's reason if aborted, leaving no key. */
  acquire(name: string, opts?: { signal?: AbortSignal; info?: CandidateInfo }): Promise<Lease>;
  /**
   * Takes a seat of seat set `name` if one is free, else returns null (all `seats` seats held,
   * or waiters queued: a try never jumps the queue). See `acquireSeat`.
   */
  tryAcquireSeat(name: string, seats: number, opts?: { signal?: AbortSignal; info?: CandidateInfo }): Promise<Lease | null>;
  /**
   * Counting semaphore: waits for one of the `seats` seats of seat set `name`. At most `seats`
   * leases of `name` are held at once; waiters get seats in order of arrival; each holder's lease
   * has a fencing token of its own, strictly increasing per seat set; a seat is lost by exactly the
   * self-fencing rules of a lock (a paused holder's lease aborts before its seat can go to anyone
   * else). Rejects with the signal's reason if aborted, leaving no key. `seats` must be an integer
   * 1..1000 (`UsageError` otherwise). The count is not stored: every holder should pass the same
   * one; when they differ, each waiter judges its own turn by its own count (it holds once fewer
   * live holders and waiters than its `seats` arrived before it), so a caller with a larger count
   * may hold while one with a smaller count waits. Unlike a lock, one Backend may hold several
   * seats of a set at once: each call is a holder (or waiter) of its own, queued in order of
   * arrival with its own token, so a leader's jobs share the cluster's seats. A seat lease is not a
   * `guardedPut` guard (`UsageError`): several hold a seat set at once, so holding a seat grants no
   * exclusive right to write.
   */
  acquireSeat(name: string, seats: number, opts?: { signal?: AbortSignal; info?: CandidateInfo }): Promise<Lease>;
  /**
   * Writes `key = value` in one backend transaction that first checks every guard is still held
   * with the same token (etcd txn on create_revision, ZooKeeper multi with check, SQL transaction).
   * A seat lease is refused as a guard with `UsageError`.
   * Returns false only when `ifAbsent` is set and the key exists. Throws `LeadershipLostError` when
   * a guard is no longer held (and aborts that guard's signal), `BackendUnavailableError` when the
   * backend cannot be reached; in both cases nothing was written.
   */
  guardedPut(guards: Lease | readonly Lease[], key: string, value: string, opts?: { ifAbsent?: boolean }): Promise<boolean>;
  /**
   * Writes every entry of `entries` (plain overwrites, no `ifAbsent`) in ONE backend transaction
   * that first checks every guard as `guardedPut` does: all of them are written, or none. For
   * writes that belong together or come in bulk (the scheduler's start-up baselines: 10,000 jobs
   * in 100 calls instead of 10,000). At most `PUT_ALL_MAX_ENTRIES` entries of at most
   * `PUT_ALL_MAX_BYTES` of keys and values in all, with distinct keys, else `UsageError` (see
   * `checkPutAll`); an empty list sends nothing (its guards are still checked locally). Throws `LeadershipLostError`
   * when a guard is no longer held (and aborts that guard's signal), nothing written;
   * `BackendUnavailableError` when the backend cannot be reached, in which case all or none of the
   * entries may have been written: sending the same call again is safe as long as nobody else
   * writes those keys meanwhile.
   */
  guardedPutAll(guards: Lease | readonly Lease[], entries: readonly KeyValue[]): Promise<void>;
  /**
   * PostgreSQL only (other backends lack it): also holds session advisory lock `key` (as
   * `pg_try_advisory_lock(key)` takes it) until `lease` is released, so that other code guarding
   * the same work with that key and lockd exclude each other. False, holding nothing, when another
   * session holds the key. If the advisory lock is lost (its connection failed), `lease` aborts.
   * Throws `BackendUnavailableError` when the database cannot be reached.
   */
  holdAdvisoryLock?(lease: Lease, key: bigint): Promise<boolean>;
  /**
   * Redis only (other backends keep their data or lose it only with their quorum): the last loss of
   * the data this backend's store recorded (see `DataLoss`), or null when it records none. Resolves
   * only once the loss is a TTL old by the backend's clock, so that every lockd that was running
   * on the lost data has made a call, noticed the loss and reported when it last saw the data
   * intact (`aliveUntilMs` is then final). Rejects with the signal's reason when `signal` aborts,
   * and with `BackendUnavailableError` when the backend cannot be reached.
   */
  dataLoss?(opts?: { signal?: AbortSignal }): Promise<DataLoss | null>;
  /** Unguarded write, for requests anyone may make (e.g. `lockd trigger`). */
  put(key: string, value: string): Promise<void>;
  get(key: string): Promise<string | undefined>;
  /**
   * Every key below `prefix` (a logical key prefix ending in `/`), at any depth, sorted by key,
   * like an etcd prefix range. Keys inside the election and lock layouts are never returned.
   */
  list(prefix: string): Promise<KeyValue[]>;
  delete(key: string): Promise<void>;
  /**
   * Calls `onChange` (debounced by the caller if needed) when any key under `prefix` changes.
   * Returns an unsubscribe function. Used for trigger/resign requests; best effort: after a
   * reconnect it fires once so the caller re-reads.
   */
  watchPrefix(prefix: string, onChange: () => void): () => void;
  health(): BackendHealth;
  /** Releases every lease (deleting keys) and closes the connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * What a backend tells the dead man's switch about its sessions (DESIGN §1.4, src/fencing), so no
 * process started under a lease outlives it. Times are CLOCK_MONOTONIC ms (`monotonicMs()`), the
 * `killBy` of src/election/fencing-window.ts.
 */
export interface SessionWatch {
  /** The session opened or a renewal was acknowledged: its processes may live until `killBy`. */
  renewed(sessionId: string, killBy: number): void;
  /**
   * The session stopped vouching (`killBy` its kill deadline) or the backend reported it gone
   * (`killBy` now). Resolves once nothing run under the session is alive; the backend gives the
   * session up (revoke, delete its row, close) only after that. Called at most once per session;
   * never rejects.
   */
  lost(sessionId: string, killBy: number): Promise<void>;
}

/** Settings every backend takes. */
export interface BackendCommonOptions {
  cluster: string;
  /** This replica's node name, for the backend's connection labels (PostgreSQL application_name). */
  node?: string;
  /** Lease TTL in ms. */
  ttlMs: number;
  logger: import('pino').Logger;
  /** Told of every session's kill deadline; without one, sessions are given up at once on loss. */
  sessionWatch?: SessionWatch;
}

/** The watch of a backend opened without one: nothing runs under its sessions. */
export const noSessionWatch: SessionWatch = {
  renewed: () => undefined,
  lost: () => Promise.resolve(),
};

/** Most entries one `guardedPutAll` takes: below etcd's default `--max-txn-ops` (128). */
export const PUT_ALL_MAX_ENTRIES = 100;
/** Most bytes of keys and values one `guardedPutAll` takes: well below ZooKeeper's 1 MiB `jute.maxbuffer` and etcd's 1.5 MiB request limit. */
export const PUT_ALL_MAX_BYTES = 256 * 1024;

/**
 * Throws `UsageError` unless `entries` may go into one `guardedPutAll`: at most
 * `PUT_ALL_MAX_ENTRIES` entries, `PUT_ALL_MAX_BYTES` of UTF-8 keys and values, no key twice
 * (etcd refuses a txn that puts a key twice; ZooKeeper would fail the second create).
 */
export function checkPutAll(entries: readonly KeyValue[]): void {
  if (entries.length > PUT_ALL_MAX_ENTRIES) throw new UsageError(`guardedPutAll: ${entries.length} entries; at most ${PUT_ALL_MAX_ENTRIES} in one call`);
  let bytes = 0;
  const keys = new Set<string>();
  for (const { key, value } of entries) {
    if (keys.has(key)) throw new UsageError(`guardedPutAll: key ${JSON.stringify(key)} given twice`);
    keys.add(key);
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (bytes > PUT_ALL_MAX_BYTES) throw new UsageError(`guardedPutAll: ${bytes} bytes of keys and values; at most ${PUT_ALL_MAX_BYTES} in one call`);
}
