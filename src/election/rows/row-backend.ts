import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { LeadershipLostError, UsageError } from '../../errors.js';
import { checkPutAll, type Backend, type BackendHealth, type CandidateInfo, type DataLoss, type ElectionView, type KeyValue, type Lease, type LockView, type SessionWatch } from '../backend.js';
import { monotonicMs } from '../../clock.js';
import { checkSeats } from '../seats.js';
import { parseCandidateInfo } from './candidate-info.js';
import { RowLease } from './row-lease.js';
import { RowSession, type RowBackendKind } from './row-session.js';
import type { AdvisoryLocks, GuardRow, RowStore } from './row-store.js';
import { waitTurn } from './wait-turn.js';
import { watchFingerprint } from './watch-prefix.js';

/**
 * The election's row name; lock rows are `lock/<name>` and seat rows `seat/<name>`, so a lock
 * called `leader` and a seat set named like a lock are distinct.
 */
const ELECTION = 'leader';
const LOCK_PREFIX = 'lock/';
const SEAT_PREFIX = 'seat/';

/** What a row backend is opened with, besides its store. */
export interface RowBackendOptions {
  kind: RowBackendKind;
  ttlMs: number;
  logger: Logger;
  watch: SessionWatch;
}

/**
 * The Backend contract on a `RowStore` (see row-store.ts for the model): campaigns, lock and seat
 * waits queue a holder row and wait their turn (a seat set's name has the capacity of its seats);
 * a lease is valid while its session vouches for it; a guarded write is the store's
 * one-transaction check of every guard row. At most one hold or acquire per lock name (and of the
 * election) per backend; a seat set's name may be held several times over, each hold a row of its
 * own (its `hold` number). Errors are the store's typed ones, plus `UsageError` for misuse and
 * `LeadershipLostError` for a guard that no longer holds.
 */
export class RowBackend implements Backend {
  readonly kind: RowBackendKind;
  readonly ttlMs: number;
  private readonly logger: Logger;
  private readonly watch: SessionWatch;
  private session: RowSession | undefined;
  /** Opening the next session, so that concurrent holds share it. */
  private opening: Promise<RowSession> | undefined;
  /** Row names with a lease or a pending acquire here: at most one of each per backend. */
  private readonly busyNames = new Set<string>();
  /** Seat holds begun through this backend: each one's `hold` number. */
  private seatHolds = 0;
  private readonly leases = new WeakSet<RowLease>();
  /** The advisory unlock of each lease that holds one; run when the lease is released. */
  private readonly advisoryUnlocks = new WeakMap<RowLease, () => Promise<void>>();
  readonly holdAdvisoryLock?: (lease: Lease, key: bigint) => Promise<boolean>;
  readonly dataLoss?: (opts?: { signal?: AbortSignal }) => Promise<DataLoss | null>;
  private readonly closing = new AbortController();
  private closed = false;

  constructor(
    private readonly store: RowStore,
    options: RowBackendOptions,
  ) {
    this.kind = options.kind;
    this.ttlMs = options.ttlMs;
    this.logger = options.logger;
    this.watch = options.watch;
    const advisory = store.advisory;
    if (advisory !== undefined) this.holdAdvisoryLock = (lease, key) => this.holdAdvisory(advisory, lease, key);
    const dataLoss = store.dataLoss?.bind(store);
    if (dataLoss !== undefined) {
      this.dataLoss = (opts = {}) => {
        opts.signal?.throwIfAborted();
        this.assertOpen();
        return dataLoss(opts.signal);
      };
    }
  }

  async campaign(me: CandidateInfo, opts: { signal?: AbortSignal } = {}): Promise<Lease> {
    return (await this.hold(ELECTION, ELECTION, me, 'wait', opts.signal, 1)) as Lease;
  }

  async observe(): Promise<ElectionView> {
    this.assertOpen();
    const rows = await this.store.liveRows(ELECTION);
    const candidates = rows.map((row) => parseCandidateInfo(row.info));
    const first = rows[0];
    const leader = first && candidates[0] ? { ...candidates[0], token: first.token, leaseRemainingMs: Math.max(0, first.remainingMs) } : null;
    return { leader, candidates };
  }

  async locks(): Promise<LockView[]> {
    this.assertOpen();
    const [lockRows, seatRows] = await Promise.all([this.store.rowsUnder(LOCK_PREFIX), this.store.rowsUnder(SEAT_PREFIX)]);
    const views: LockView[] = [];
    for (const row of lockRows) {
      const name = row.name.slice(LOCK_PREFIX.length);
      const last = views.at(-1);
      if (last?.name === name) last.waiting++;
      else views.push({ name, token: row.token, holder: row.info === null ? null : parseCandidateInfo(row.info), waiting: 0 });
    }
    // A seat set's rows in token order: the first k hold (k as its first row recorded it), the rest wait.
    const sets = new Map<string, typeof seatRows>();
    for (const row of seatRows) sets.set(row.name, [...(sets.get(row.name) ?? []), row]);
    for (const [rowName, rows] of sets) {
      const seats = seatsOf(rows[0]!.info);
      const holders = rows.slice(0, seats);
      for (const row of holders) {
        views.push({ name: rowName.slice(SEAT_PREFIX.length), token: row.token, holder: row.info === null ? null : parseCandidateInfo(row.info), waiting: rows.length - holders.length, seats });
      }
    }
    return views.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  tryAcquire(name: string, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease | null> {
    return this.hold(`${LOCK_PREFIX}${name}`, name, opts.info, 'try', opts.signal, 1);
  }

  async acquire(name: string, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease> {
    return (await this.hold(`${LOCK_PREFIX}${name}`, name, opts.info, 'wait', opts.signal, 1)) as Lease;
  }

  async tryAcquireSeat(name: string, seats: number, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease | null> {
    checkSeats(seats);
    return this.hold(`${SEAT_PREFIX}${name}`, name, opts.info, 'try', opts.signal, seats);
  }

  async acquireSeat(name: string, seats: number, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease> {
    checkSeats(seats);
    return (await this.hold(`${SEAT_PREFIX}${name}`, name, opts.info, 'wait', opts.signal, seats)) as Lease;
  }

  async guardedPut(guards: Lease | readonly Lease[], key: string, value: string, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const own = this.validGuards(guards, key);
    const result = await this.store.guardedPut(guardRows(own), key, value, opts.ifAbsent ?? false);
    if ('written' in result) return result.written;
    throw this.lostInStore(own, result.lost, key);
  }

  async guardedPutAll(guards: Lease | readonly Lease[], entries: readonly KeyValue[]): Promise<void> {
    checkPutAll(entries);
    const what = `${entries.length} keys`;
    const own = this.validGuards(guards, what);
    if (entries.length === 0) return;
    const result = await this.store.guardedPutAll(guardRows(own), entries);
    if ('lost' in result) throw this.lostInStore(own, result.lost, what);
  }

  /** `guards` as leases of this backend, each still valid here; `UsageError` for a foreign lease or a seat, `LeadershipLostError` for one no longer held. */
  private validGuards(guards: Lease | readonly Lease[], what: string): RowLease[] {
    this.assertOpen();
    const own = ('token' in guards ? [guards] : guards).map((guard) => {
      if (!(guard instanceof RowLease) || !this.leases.has(guard)) {
        throw new UsageError('guardedPut: a guard lease was not issued by this backend');
      }
      if (guard.isSeat) throw new UsageError(`guardedPut: ${guard.describe()} is a seat; only a lock or leadership can guard a write`);
      return guard;
    });
    for (const guard of own) {
      // The deadline may have passed unnoticed (after a pause); checkAlive then loses the session.
      if (!guard.session.checkAlive() || !guard.isValid()) {
        throw new LeadershipLostError(`guardedPut of ${what}: ${guard.describe()} is no longer held`);
      }
    }
    return own;
  }

  /** The error for guard row `row` found not holding by the store; its lease is lost with it. */
  private lostInStore(own: readonly RowLease[], row: GuardRow, what: string): LeadershipLostError {
    const lost = own.find((g) => g.token === row.token) as RowLease;
    // Its session may have been reaped (this process stalled); if so every lease in it is gone.
    lost.session.checkAlive();
    const error = new LeadershipLostError(`guardedPut of ${what}: ${lost.describe()} is no longer held in the store`);
    lost.lose(error);
    return error;
  }

  async put(key: string, value: string): Promise<void> {
    this.assertOpen();
    await this.store.put(key, value);
  }

  async get(key: string): Promise<string | undefined> {
    this.assertOpen();
    return this.store.get(key);
  }

  async list(prefix: string): Promise<KeyValue[]> {
    this.assertOpen();
    return this.store.list(prefix);
  }

  async delete(key: string): Promise<void> {
    this.assertOpen();
    await this.store.delete(key);
  }

  watchPrefix(prefix: string, onChange: () => void): () => void {
    this.assertOpen();
    return watchFingerprint(this.store.changes, () => this.store.fingerprint(prefix), onChange, this.logger.child({ prefix }));
  }

  health(): BackendHealth {
    if (this.closed) return { up: false, reason: 'closed' };
    const session = this.session?.signal.aborted === false ? this.session : undefined;
    const remaining = session?.remainingMs();
    const reason =
      this.store.lastFailure ?? (remaining !== undefined && remaining <= 0 ? 'self-fencing deadline passed' : undefined);
    const losses = this.store.dataLossesDetected;
    return {
      up: reason === undefined,
      ...(losses !== undefined && { dataLossesDetected: losses }),
      ...(reason !== undefined && { reason }),
      ...(remaining !== undefined && { sessionRemainingMs: remaining }),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort(new UsageError(`${this.kind} backend closed`));
    this.store.changes.stop();
    await this.session?.close();
    await this.store.close();
    this.logger.debug('closed');
  }

  private async holdAdvisory(advisory: AdvisoryLocks, lease: Lease, key: bigint): Promise<boolean> {
    if (!(lease instanceof RowLease) || !this.leases.has(lease) || this.advisoryUnlocks.has(lease)) {
      throw new UsageError('holdAdvisoryLock: the lease was not issued by this backend, or holds an advisory lock already');
    }
    const unlock = await advisory.tryLock(key, () =>
      lease.lose(new LeadershipLostError(`${lease.describe()}: advisory lock ${key} lost with its connection`, { killBy: monotonicMs() })),
    );
    if (unlock === null) return false;
    // Released or lost meanwhile: the scheduler's release may already have run.
    if (lease.signal.aborted) {
      await unlock();
      return false;
    }
    this.advisoryUnlocks.set(lease, unlock);
    return true;
  }

  /**
   * Takes (`try`) or waits for (`wait`) a row of name `rowName`, which `capacity` rows hold at
   * once; see the contract for each mode.
   */
  private async hold(
    rowName: string,
    name: string,
    info: CandidateInfo | undefined,
    mode: 'try' | 'wait',
    signal: AbortSignal | undefined,
    capacity: number,
  ): Promise<RowLease | null> {
    signal?.throwIfAborted();
    this.assertOpen();
    const what = rowName === ELECTION ? 'the election' : rowName.startsWith(SEAT_PREFIX) ? `a seat of "${name}"` : `lock "${name}"`;
    // A seat set's name may be held several times over: each hold is a row of its own.
    const hold = rowName.startsWith(SEAT_PREFIX) ? String(++this.seatHolds) : '';
    if (hold === '' && this.busyNames.has(rowName)) throw new UsageError(`${what} is already held or being acquired through this backend`);
    if (hold === '') this.busyNames.add(rowName);
    let lease: RowLease | null = null;
    try {
      lease = mode === 'try' ? await this.tryHold(rowName, hold, name, info, capacity) : await this.waitHold(rowName, hold, name, info, capacity, signal);
      return lease;
    } finally {
      if (lease === null && hold === '') this.busyNames.delete(rowName);
    }
  }

  private async tryHold(rowName: string, hold: string, name: string, info: CandidateInfo | undefined, capacity: number): Promise<RowLease | null> {
    for (;;) {
      const session = await this.liveSession();
      const token = await this.store.insertHolder(session.id, rowName, hold, rowInfo(info, rowName, capacity), true, capacity);
      if (token === null) return null;
      // Resumed in a later microtask: the session may have been lost since the row was inserted.
      if (token !== undefined && session.checkAlive()) return this.newLease(session, rowName, name, token, info);
      if (token === undefined) session.lose('its row was reaped before a lock could be taken in it', true);
    }
  }

  private async waitHold(rowName: string, hold: string, name: string, info: CandidateInfo | undefined, capacity: number, signal?: AbortSignal): Promise<RowLease> {
    for (;;) {
      // Again on every round: the backend may have closed, or the caller given up, meanwhile.
      signal?.throwIfAborted();
      this.assertOpen();
      const session = await this.liveSession();
      const token = await this.store.insertHolder(session.id, rowName, hold, rowInfo(info, rowName, capacity), false, capacity);
      if (token === undefined || token === null) {
        session.lose('its row was reaped before a candidate could be queued in it', true);
        continue;
      }
      let holds: boolean;
      try {
        holds = await waitTurn({ store: this.store, session, name: rowName, token, capacity, signal, closing: this.closing.signal });
      } catch (err) {
        await this.deleteRow(session, token);
        throw err;
      }
      // Resumed in a later microtask: the session may have been lost since the row won.
      if (holds && session.checkAlive()) return this.newLease(session, rowName, name, token, info);
      this.logger.info({ name, token: String(token) }, 'session lost while waiting; queueing again in a new session');
    }
  }

  /** The current session, or a new one when there is none or it was lost; one opening at a time. */
  private async liveSession(): Promise<RowSession> {
    if (this.session?.checkAlive()) return this.session;
    this.opening ??= RowSession.open(this.kind, this.store, this.ttlMs, this.logger, JSON.stringify({ host: hostname(), pid: process.pid }), this.watch)
      .then((session) => {
        this.session = session;
        return session;
      })
      .finally(() => {
        this.opening = undefined;
      });
    return this.opening;
  }

  private newLease(session: RowSession, rowName: string, name: string, token: bigint, info?: CandidateInfo): RowLease {
    const lease = new RowLease(name, rowName, token, session, async (l) => {
      // The advisory lock first, so that a replica taking the row next finds the key free.
      await this.advisoryUnlocks.get(l)?.();
      await this.deleteRow(l.session, l.token);
    });
    this.leases.add(lease);
    const fields = { name, token: String(token), ...(info && { node: info.node }) };
    const what = rowName === ELECTION ? 'leadership' : lease.isSeat ? 'seat' : 'lock';
    lease.signal.addEventListener(
      'abort',
      () => {
        this.busyNames.delete(rowName);
        this.logger.info({ ...fields, reason: (lease.signal.reason as Error).message }, `${what} ended`);
      },
      { once: true },
    );
    this.logger.info(fields, rowName === ELECTION ? 'elected leader' : `${what} acquired`);
    return lease;
  }

  /** Deletes a row of ours, never rejecting: on failure the next heartbeat retries. */
  private async deleteRow(session: RowSession, token: bigint): Promise<void> {
    // A lost or closed session took its rows with it (or they are reaped with it).
    if (this.closed || session.signal.aborted) return;
    try {
      await this.store.deleteHolder(session.id, token);
    } catch (err) {
      session.deleteLater(token);
      this.logger.warn({ token: String(token), err: (err as Error).message }, 'could not delete a row; the next heartbeat retries');
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new UsageError(`${this.kind} backend closed`);
  }
}

/** What a holder row stores as its info: the candidate, and for a seat set the seat count it asked for. */
function rowInfo(info: CandidateInfo | undefined, rowName: string, capacity: number): string | null {
  if (rowName.startsWith(SEAT_PREFIX)) return JSON.stringify({ ...info, seats: capacity });
  return info ? JSON.stringify(info) : null;
}

/** The seat count a seat row recorded (1 when unreadable). */
function seatsOf(info: string | null): number {
  try {
    const seats = (JSON.parse(info ?? '{}') as { seats?: unknown }).seats;
    return typeof seats === 'number' && Number.isInteger(seats) && seats >= 1 ? seats : 1;
  } catch {
    return 1;
  }
}

/** The store's view of guard leases. */
function guardRows(leases: readonly RowLease[]): GuardRow[] {
  return leases.map((g) => ({ name: g.rowName, token: g.token, session: g.session.id }));
}
