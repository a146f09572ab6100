import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { LeadershipLostError, UsageError } from '../../errors.js';
import { noSessionWatch, type Backend, type BackendCommonOptions, type BackendHealth, type CandidateInfo, type ElectionView, type KeyValue, type Lease, type SessionWatch } from '../backend.js';
import { parseCandidateInfo } from './candidate-info.js';
import { ChangePoller } from './change-poller.js';
import { EmbeddedLease } from './embedded-lease.js';
import { monotonicMs } from '../../clock.js';
import { readBootId } from './boot-id.js';
import { openDatabase } from './open-database.js';
import { EmbeddedSession } from './session.js';
import { EmbeddedStore } from './store.js';
import { waitTurn } from './wait-turn.js';
import { watchFingerprint } from './watch-prefix.js';

/** Knobs for tests and benchmarks; the config file does not expose them. */
export interface EmbeddedTuning {
  /** How long a transaction waits for another process's write lock; default 5000 ms. */
  busyTimeoutMs?: number;
  /** How often waiters and watchers look for changes; default 40 ms. */
  pollIntervalMs?: number;
}

/** The shortest TTL that leaves the heartbeat and the safety margin room to work. */
const MIN_TTL_MS = 500;
/** The election's row name; lock rows are `lock/<name>`, so a lock called `leader` is distinct. */
const ELECTION = 'leader';

/**
 * Opens the embedded backend on the SQLite file `config.path` (relative to the working
 * directory; created if missing). Many processes on one host may share the file; several hosts
 * may not (a network filesystem gets a loud warning). Throws `UsageError` for a TTL below 500 ms,
 * `BackendStorageError` when the directory is missing or read-only, the file is read-only or not
 * a lockd database, and `BackendUnavailableError` when the database stays busy beyond the timeout.
 */
export async function createEmbeddedBackend(
  config: { type: 'embedded'; path: string },
  common: BackendCommonOptions,
  tuning: EmbeddedTuning = {},
): Promise<Backend> {
  if (!(common.ttlMs >= MIN_TTL_MS)) {
    throw new UsageError(`embedded backend: the lease TTL must be at least ${MIN_TTL_MS}ms (got ${common.ttlMs}ms)`);
  }
  const logger = common.logger.child({ component: 'election', backend: 'embedded' });
  const busyTimeoutMs = tuning.busyTimeoutMs ?? 5000;
  const bootId = readBootId();
  const { db, file } = openDatabase(config.path, { busyTimeoutMs, logger });
  const store = new EmbeddedStore(db, file, common.cluster, bootId, busyTimeoutMs);
  logger.debug({ path: file, cluster: common.cluster }, 'database opened');
  return new EmbeddedBackend(store, common.ttlMs, logger, tuning.pollIntervalMs ?? 40, common.sessionWatch ?? noSessionWatch);
}

class EmbeddedBackend implements Backend {
  readonly kind = 'embedded' as const;
  private session: EmbeddedSession | undefined;
  /** Row names with a lease or a pending acquire here: at most one of each per backend. */
  private readonly busyNames = new Set<string>();
  private readonly leases = new WeakSet<EmbeddedLease>();
  private readonly closing = new AbortController();
  private readonly poller: ChangePoller;
  private closed = false;

  constructor(
    private readonly store: EmbeddedStore,
    readonly ttlMs: number,
    private readonly logger: Logger,
    pollIntervalMs: number,
    private readonly watch: SessionWatch,
  ) {
    this.poller = new ChangePoller(() => store.version(), pollIntervalMs);
  }

  async campaign(me: CandidateInfo, opts: { signal?: AbortSignal } = {}): Promise<Lease> {
    return (await this.hold(ELECTION, ELECTION, me, 'wait', opts.signal)) as Lease;
  }

  async observe(): Promise<ElectionView> {
    this.assertOpen();
    const rows = this.store.liveRows(ELECTION);
    const candidates = rows.map((row) => parseCandidateInfo(row.info));
    const first = rows[0];
    const leader = first && candidates[0] ? { ...candidates[0], token: first.token, leaseRemainingMs: Math.max(0, first.expires - monotonicMs()) } : null;
    return { leader, candidates };
  }

  tryAcquire(name: string, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease | null> {
    return this.hold(`lock/${name}`, name, opts.info, 'try', opts.signal);
  }

  async acquire(name: string, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease> {
    return (await this.hold(`lock/${name}`, name, opts.info, 'wait', opts.signal)) as Lease;
  }

  async guardedPut(guards: Lease | readonly Lease[], key: string, value: string, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    this.assertOpen();
    const own = ('token' in guards ? [guards] : guards).map((guard) => {
      if (!(guard instanceof EmbeddedLease) || !this.leases.has(guard)) {
        throw new UsageError('guardedPut: a guard lease was not issued by this backend');
      }
      return guard;
    });
    for (const guard of own) {
      // The deadline may have passed unnoticed (after a pause); checkAlive then loses the session.
      if (!guard.session.checkAlive() || !guard.isValid()) {
        throw new LeadershipLostError(`guardedPut of ${key}: ${guard.describe()} is no longer held`);
      }
    }
    const rows = own.map((g) => ({ name: g.rowName, token: g.token, session: g.session.id }));
    const result = this.store.guardedPut(rows, key, value, opts.ifAbsent ?? false);
    if ('written' in result) return result.written;
    const lost = own.find((g) => g.token === result.lost.token) as EmbeddedLease;
    // Its session may have been reaped (this process stalled); if so every lease in it is gone.
    lost.session.checkAlive();
    const error = new LeadershipLostError(`guardedPut of ${key}: ${lost.describe()} is no longer held in the database`);
    lost.lose(error);
    throw error;
  }

  async put(key: string, value: string): Promise<void> {
    this.assertOpen();
    this.store.put(key, value);
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
    this.store.delete(key);
  }

  watchPrefix(prefix: string, onChange: () => void): () => void {
    this.assertOpen();
    return watchFingerprint(this.poller, () => this.store.fingerprint(prefix), onChange, this.logger.child({ prefix }));
  }

  health(): BackendHealth {
    if (this.closed) return { up: false, reason: 'closed' };
    const session = this.session?.signal.aborted === false ? this.session : undefined;
    const remaining = session?.remainingMs();
    const reason =
      this.store.lastFailure ?? (remaining !== undefined && remaining <= 0 ? 'self-fencing deadline passed' : undefined);
    return {
      up: reason === undefined,
      ...(reason !== undefined && { reason }),
      ...(remaining !== undefined && { sessionRemainingMs: remaining }),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort(new UsageError('embedded backend closed'));
    this.poller.stop();
    await this.session?.close();
    this.store.close();
    this.logger.debug('closed');
  }

  /** Takes (`try`) or waits for (`wait`) the row name `rowName`; see the contract for each mode. */
  private async hold(
    rowName: string,
    name: string,
    info: CandidateInfo | undefined,
    mode: 'try' | 'wait',
    signal: AbortSignal | undefined,
  ): Promise<EmbeddedLease | null> {
    signal?.throwIfAborted();
    this.assertOpen();
    const what = rowName === ELECTION ? 'the election' : `lock "${name}"`;
    if (this.busyNames.has(rowName)) throw new UsageError(`${what} is already held or being acquired through this backend`);
    this.busyNames.add(rowName);
    let lease: EmbeddedLease | null = null;
    try {
      lease = mode === 'try' ? this.tryHold(rowName, name, info) : await this.waitHold(rowName, name, info, signal);
      return lease;
    } finally {
      if (lease === null) this.busyNames.delete(rowName);
    }
  }

  private tryHold(rowName: string, name: string, info: CandidateInfo | undefined): EmbeddedLease | null {
    for (;;) {
      const session = this.liveSession();
      const token = this.store.insertHolder(session.id, rowName, info ? JSON.stringify(info) : null, true);
      if (token === null) return null;
      if (token !== undefined) return this.newLease(session, rowName, name, token, info);
      session.lose('its row expired in the database before a lock could be taken in it', true);
    }
  }

  private async waitHold(rowName: string, name: string, info: CandidateInfo | undefined, signal?: AbortSignal): Promise<EmbeddedLease> {
    for (;;) {
      // Again on every round: the backend may have closed, or the caller given up, meanwhile.
      signal?.throwIfAborted();
      this.assertOpen();
      const session = this.liveSession();
      const token = this.store.insertHolder(session.id, rowName, info ? JSON.stringify(info) : null, false);
      if (token === undefined || token === null) {
        session.lose('its row expired in the database before a candidate could be queued in it', true);
        continue;
      }
      let holds: boolean;
      try {
        holds = await waitTurn({ store: this.store, poller: this.poller, session, name: rowName, token, signal, closing: this.closing.signal });
      } catch (err) {
        this.deleteRow(session, token);
        throw err;
      }
      // Resumed in a later microtask: the session may have been lost since the row won.
      if (holds && session.checkAlive()) return this.newLease(session, rowName, name, token, info);
      this.logger.info({ name, token: String(token) }, 'session lost while waiting; queueing again in a new session');
    }
  }

  /** The current session, or a new one when there is none or it was lost. */
  private liveSession(): EmbeddedSession {
    if (this.session === undefined || !this.session.checkAlive()) {
      this.session = EmbeddedSession.open(this.store, this.ttlMs, this.logger, JSON.stringify({ host: hostname(), pid: process.pid }), this.watch);
    }
    return this.session;
  }

  private newLease(session: EmbeddedSession, rowName: string, name: string, token: bigint, info?: CandidateInfo): EmbeddedLease {
    const lease = new EmbeddedLease(name, rowName, token, session, (l) => this.deleteRow(l.session, l.token));
    this.leases.add(lease);
    const fields = { name, token: String(token), ...(info && { node: info.node }) };
    lease.signal.addEventListener(
      'abort',
      () => {
        this.busyNames.delete(rowName);
        this.logger.info({ ...fields, reason: (lease.signal.reason as Error).message }, rowName === ELECTION ? 'leadership ended' : 'lock ended');
      },
      { once: true },
    );
    this.logger.info(fields, rowName === ELECTION ? 'elected leader' : 'lock acquired');
    return lease;
  }

  /** Deletes a row of ours, never throwing: on failure the next heartbeat retries. */
  private deleteRow(session: EmbeddedSession, token: bigint): void {
    // A lost or closed session took its rows with it (or they expire with it).
    if (this.closed || session.signal.aborted) return;
    try {
      this.store.deleteHolder(session.id, token);
    } catch (err) {
      session.deleteLater(token);
      this.logger.warn({ token: String(token), err: (err as Error).message }, 'could not delete a row; the next heartbeat retries');
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new UsageError('embedded backend closed');
  }
}
