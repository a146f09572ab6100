import type { Logger } from 'pino';
import type { BackendConfig } from '../../config/types.js';
import { noSessionWatch, type Backend, type BackendCommonOptions, type BackendHealth, type CandidateInfo, type ElectionView, type KeyValue, type Lease, type LockView, type SessionWatch } from '../backend.js';
import { BackendUnavailableError, LeadershipLostError, LockdError, UsageError } from '../../errors.js';
import { EtcdData } from './etcd-data.js';
import { etcdLayout, leaseKey, parseCandidate, type EtcdLayout } from './etcd-keys.js';
import { EtcdLease } from './etcd-lease.js';
import { allByCreation, EtcdQueue } from './etcd-queue.js';
import { toLockdError } from './etcd-errors.js';
import { EtcdRpc } from './etcd-rpc.js';
import { EtcdSession } from './etcd-session.js';
import { fencingWindow } from '../fencing-window.js';
import { linkSignals } from '../../abort.js';
import { checkSeats } from '../seats.js';
import { seatValue, seatViews } from './etcd-seats.js';
import { watchPrefix } from './etcd-watch.js';

type EtcdConfig = Extract<BackendConfig, { type: 'etcd' }>;

/** What one claim contends for: the election, a lock, or a seat of a seat set. */
interface ClaimTarget {
  /** The key in `claims`: `leader`, `lock/<name>` or `seat/<name>#<hold>`. */
  id: string;
  /** The lease's name: `leader`, or the lock's or seat set's. */
  name: string;
  /** The queue's prefix; a getter, so an unsafe name throws only once the claim starts. */
  prefix: () => string;
  /** The value of the contender's key. */
  value: string;
  /** How many keys of the queue hold at once: 1, or a seat set's seat count. */
  capacity: number;
  isSeat: boolean;
  /** `''`, or a seat hold's number: one backend may hold several seats of a set, each its own key. */
  hold: string;
}

/**
 * Opens the etcd backend (DESIGN §3): one lease per Backend shared by the election, all locks and
 * all seats, etcd's own concurrency key layout, fencing token = create_revision of the holder key. Checks
 * that etcd answers before resolving; fails with `BackendUnavailableError` (unreachable) or
 * `BackendStorageError` (auth refused, unreadable TLS files).
 */
export async function createEtcdBackend(config: EtcdConfig, common: BackendCommonOptions): Promise<Backend> {
  const log = common.logger.child({ component: 'election', backend: 'etcd' });
  let rpc: EtcdRpc;
  const timeoutMs = Math.min(common.ttlMs / 2, 3000);
  try {
    // Half the margin per attempt on one member: a frozen member is left, and the keep-alive
    // answered by another, while the session still has half its margin to spare.
    rpc = new EtcdRpc(config, timeoutMs, Math.min(fencingWindow('etcd', common.ttlMs).marginMs / 2, timeoutMs / 3));
  } catch (err) {
    throw toLockdError(err, 'client setup');
  }
  const layout = etcdLayout(common.cluster);
  try {
    await rpc.range({ key: Buffer.from(layout.election), limit: 1 }, 'connect');
  } catch (err) {
    rpc.close();
    throw err;
  }
  return new EtcdBackend(rpc, layout, common.ttlMs, log, common.sessionWatch ?? noSessionWatch);
}

/** The `Backend` over etcd; see `createEtcdBackend`. */
export class EtcdBackend implements Backend {
  readonly kind = 'etcd' as const;
  readonly ttlMs: number;
  private readonly queue: EtcdQueue;
  private readonly data: EtcdData;
  private session: EtcdSession | undefined;
  private opening: Promise<EtcdSession> | undefined;
  private lostReason: string | undefined;
  /**
   * Per claim (`leader`, `lock/<name>`, or `seat/<name>#<hold>`: each seat hold is a claim of its
   * own): a pending or held claim, so a second one of the election or a lock is refused.
   */
  private readonly claims = new Map<string, EtcdLease | 'pending'>();
  /** Seat holds begun through this backend: each one's `hold` number. */
  private seatHolds = 0;
  private readonly unwatch = new Set<() => void>();
  private readonly closing = new AbortController();
  private closed: Promise<void> | undefined;

  constructor(
    private readonly rpc: EtcdRpc,
    private readonly layout: EtcdLayout,
    ttlMs: number,
    private readonly log: Logger,
    private readonly watch: SessionWatch,
  ) {
    this.ttlMs = ttlMs;
    this.queue = new EtcdQueue(rpc, log);
    this.data = new EtcdData(rpc, layout);
  }

  async campaign(me: CandidateInfo, opts: { signal?: AbortSignal } = {}): Promise<Lease> {
    const target: ClaimTarget = { id: 'leader', name: 'leader', prefix: () => this.layout.election, value: JSON.stringify(me), capacity: 1, isSeat: false, hold: '' };
    return (await this.claim(target, opts.signal, true))!;
  }

  async observe(): Promise<ElectionView> {
    this.ensureOpen();
    const res = await this.rpc.range(allByCreation(this.layout.election), 'observe');
    const candidates = res.kvs.map((kv) => parseCandidate(kv.value.toString()));
    const first = res.kvs[0];
    if (!first) return { leader: null, candidates };
    // A key without a lease (a foreign writer's) never expires on its own.
    const ttlSeconds = first.lease === '0' ? undefined : await this.rpc.leaseTimeToLive(first.lease);
    const leaseRemainingMs = ttlSeconds === undefined ? undefined : Math.max(0, ttlSeconds) * 1000;
    return { leader: { ...candidates[0]!, token: BigInt(first.create_revision), ...(leaseRemainingMs === undefined ? {} : { leaseRemainingMs }) }, candidates };
  }

  async locks(): Promise<LockView[]> {
    this.ensureOpen();
    // Each contender's key is `<locks>/<name>/<lease>`; by creation, the first of a name holds.
    const [res, seats] = await Promise.all([
      this.rpc.range(allByCreation(this.layout.locks), 'list locks'),
      this.rpc.range(allByCreation(this.layout.seats), 'list seats'),
    ]);
    const views = new Map<string, LockView>();
    for (const kv of res.kvs) {
      const rest = kv.key.toString().slice(this.layout.locks.length + 1);
      const name = rest.slice(0, rest.lastIndexOf('/'));
      const seen = views.get(name);
      if (seen) seen.waiting++;
      else {
        const value = kv.value.toString();
        views.set(name, { name, token: BigInt(kv.create_revision), holder: value === '' ? null : parseCandidate(value), waiting: 0 });
      }
    }
    // Stable sort: a name's lock comes before its seat holders, which stay in token order.
    return [...views.values(), ...seatViews(this.layout.seats, seats.kvs)].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  tryAcquire(name: string, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease | null> {
    return this.claim(this.lockTarget(name, opts.info), opts.signal, false);
  }

  async acquire(name: string, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease> {
    return (await this.claim(this.lockTarget(name, opts.info), opts.signal, true))!;
  }

  async tryAcquireSeat(name: string, seats: number, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease | null> {
    checkSeats(seats);
    return this.claim(this.seatTarget(name, seats, opts.info), opts.signal, false);
  }

  async acquireSeat(name: string, seats: number, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease> {
    checkSeats(seats);
    return (await this.claim(this.seatTarget(name, seats, opts.info), opts.signal, true))!;
  }

  async guardedPut(guards: Lease | readonly Lease[], key: string, value: string, opts?: { ifAbsent?: boolean }): Promise<boolean> {
    this.ensureOpen();
    return this.data.guardedPut(guards, key, value, opts);
  }

  async guardedPutAll(guards: Lease | readonly Lease[], entries: readonly KeyValue[]): Promise<void> {
    this.ensureOpen();
    return this.data.guardedPutAll(guards, entries);
  }

  async put(key: string, value: string): Promise<void> {
    this.ensureOpen();
    return this.data.put(key, value);
  }

  async get(key: string): Promise<string | undefined> {
    this.ensureOpen();
    return this.data.get(key);
  }

  async list(prefix: string): Promise<KeyValue[]> {
    this.ensureOpen();
    return this.data.list(prefix);
  }

  async delete(key: string): Promise<void> {
    this.ensureOpen();
    return this.data.delete(key);
  }

  watchPrefix(prefix: string, onChange: () => void): () => void {
    this.ensureOpen();
    const stop = watchPrefix(this.rpc, `${this.layout.root}${prefix}`, onChange, this.log);
    const unsubscribe = (): void => {
      this.unwatch.delete(unsubscribe);
      stop();
    };
    this.unwatch.add(unsubscribe);
    return unsubscribe;
  }

  health(): BackendHealth {
    if (this.closed) return { up: false, reason: 'backend closed' };
    const connectivity = this.rpc.connectivity();
    const session = this.session?.signal.aborted === false ? this.session : undefined;
    if (session) {
      const sessionRemainingMs = session.remainingMs();
      if (sessionRemainingMs <= 0) return { up: false, reason: 'etcd session past its self-fencing deadline', sessionRemainingMs };
      return { ...connectivity, sessionRemainingMs };
    }
    if (this.lostReason !== undefined) return { up: false, reason: this.lostReason };
    return connectivity;
  }

  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    this.closing.abort(new BackendUnavailableError('etcd backend closed'));
    for (const unsubscribe of [...this.unwatch]) unsubscribe();
    const session = this.session ?? (await this.opening?.catch(() => undefined));
    // Revoking the lease deletes every key of this backend at once and aborts every lease.
    await session?.close();
    this.rpc.close();
    this.log.info('etcd backend closed');
  }

  private ensureOpen(): void {
    if (this.closing.signal.aborted) throw new UsageError('the etcd backend is closed');
  }

  private lockTarget(name: string, info: CandidateInfo | undefined): ClaimTarget {
    return { id: `lock/${name}`, name, prefix: () => this.layout.lock(name), value: info ? JSON.stringify(info) : '', capacity: 1, isSeat: false, hold: '' };
  }

  /**
   * A seat of set `name`, a hold of its own (so several may be held at once): its key records the
   * seat count, so `locks()` can tell holders from waiters.
   */
  private seatTarget(name: string, seats: number, info: CandidateInfo | undefined): ClaimTarget {
    const hold = String(++this.seatHolds);
    return { id: `seat/${name}#${hold}`, name, prefix: () => this.layout.seat(name), value: seatValue(info, seats), capacity: seats, isSeat: true, hold };
  }

  /**
   * Takes (`wait`) or tries (`!wait`) the queue of `target`; its `id` names the claim for
   * UsageError. Resolves null only when `!wait`.
   */
  private async claim(target: ClaimTarget, signal: AbortSignal | undefined, wait: boolean): Promise<EtcdLease | null> {
    signal?.throwIfAborted();
    this.ensureOpen();
    const { id } = target;
    const queuePrefix = target.prefix();
    if (this.claims.has(id)) throw new UsageError(`${id} is already held or being acquired through this backend`);
    this.claims.set(id, 'pending');
    try {
      const lease = await this.contend(target, queuePrefix, signal, wait);
      if (lease && !lease.signal.aborted) this.claims.set(id, lease);
      else this.claims.delete(id);
      return lease;
    } catch (err) {
      this.claims.delete(id);
      throw err;
    }
  }

  private async contend(target: ClaimTarget, prefix: string, signal: AbortSignal | undefined, wait: boolean): Promise<EtcdLease | null> {
    const { id, name, value, capacity, isSeat, hold } = target;
    while (true) {
      signal?.throwIfAborted();
      this.closing.signal.throwIfAborted();
      const session = await this.currentSession();
      let entry;
      try {
        entry = await this.queue.enqueue(prefix, session, value, capacity, hold);
      } catch (err) {
        if (err instanceof LeadershipLostError) {
          session.lose('etcd does not know the lease', true);
          continue;
        }
        if (err instanceof BackendUnavailableError) {
          // The txn may have applied although its answer was lost: do not leave that key queued.
          this.queue.abandon(leaseKey(prefix, session.leaseId, hold), session, () => !this.claims.has(id));
        }
        throw err;
      }
      const link = linkSignals([this.closing.signal, session.signal, signal]);
      const cancel = link.signal;
      let holds = entry.holds;
      try {
        if (!holds && wait && !cancel.aborted) holds = await this.queue.waitTurn(prefix, entry, cancel, capacity);
      } catch (err) {
        if (!cancel.aborted) {
          await this.queue.remove(entry.key, entry.rev, session);
          throw err;
        }
      } finally {
        link.dispose();
      }
      if (holds && !cancel.aborted) {
        const lease = new EtcdLease({ name, key: entry.key, token: entry.rev, session, isSeat }, this.queue, this.log, (l) => {
          if (this.claims.get(id) === l) this.claims.delete(id);
        });
        this.log.info({ name, token: lease.token.toString() }, id === 'leader' ? 'leadership won' : isSeat ? 'seat acquired' : 'lock acquired');
        return lease;
      }
      // Not holding, or aborted at any point: leave no key behind (a lost session's keys go with it).
      if (!session.signal.aborted) await this.queue.remove(entry.key, entry.rev, session);
      if (signal?.aborted) throw signal.reason;
      this.closing.signal.throwIfAborted();
      // A failed try returns null; a lost session or a vanished key means queueing again.
      if (!wait && !session.signal.aborted) return null;
    }
  }

  /** The live session, or a new one (granted once however many callers wait for it). */
  private async currentSession(): Promise<EtcdSession> {
    if (this.session && !this.session.signal.aborted) return this.session;
    this.opening ??= EtcdSession.open(this.rpc, this.ttlMs, this.log, this.watch)
      .then((session) => {
        this.session = session;
        this.lostReason = undefined;
        session.signal.addEventListener('abort', () => {
          if (!this.closing.signal.aborted) this.lostReason = (session.signal.reason as LockdError).message;
        });
        return session;
      })
      .finally(() => (this.opening = undefined));
    const session = await this.opening;
    if (this.closing.signal.aborted) {
      await session.close();
      this.closing.signal.throwIfAborted();
    }
    return session;
  }
}

