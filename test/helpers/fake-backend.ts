import { checkPutAll, type Backend, type BackendHealth, type CandidateInfo, type ElectionView, type KeyValue, type Lease, type LockView } from '../../src/election/backend.js';
import { checkSeats } from '../../src/election/seats.js';
import { LeadershipLostError, UsageError } from '../../src/errors.js';
import { FakeLeaseBase } from './fake-lease-base.js';
import { FakeSeatLease, FakeSeats } from './fake-seats.js';
import { KeyValueMap } from './key-value-map.js';

/** The election is a lock under a name no job can have. */
const ELECTION = '\0election';

type Method = Exclude<keyof Backend, 'kind' | 'ttlMs'>;

interface Waiter {
  backend: FakeBackend;
  info: CandidateInfo | undefined;
  grant: (lease: FakeLease) => void;
}

interface LockState {
  holder: FakeLease | null;
  waiters: Waiter[];
}

/**
 * The "server": keys, lock holders and the token counter, shared by every `FakeBackend` on it, so
 * two backends are two clients (an old and a new leader, or a foreign `etcdctl lock`).
 */
export class FakeStore {
  readonly kv = new KeyValueMap();
  readonly locks = new Map<string, LockState>();
  /** Like an etcd revision: one counter for every grant, so tokens increase per name. */
  revision = 0n;
  /** Seat sets, with tokens from the same counter. */
  readonly seats = new FakeSeats(() => ++this.revision);

  lock(name: string): LockState {
    let s = this.locks.get(name);
    if (!s) {
      s = { holder: null, waiters: [] };
      this.locks.set(name, s);
    }
    return s;
  }

  /** The current holder of lock `name` (`'leader'` for the election), if any. */
  holder(name: string): FakeLease | null {
    return this.locks.get(name === 'leader' ? ELECTION : name)?.holder ?? null;
  }

  grantNext(name: string): void {
    const s = this.lock(name);
    if (s.holder) return;
    const w = s.waiters.shift();
    if (!w) return;
    s.holder = new FakeLease(this, w.backend, name, ++this.revision, w.info);
    w.grant(s.holder);
  }
}

/** A lease as the fake hands it out; `expire`/`lapse` on the backend simulate loss. */
export class FakeLease extends FakeLeaseBase {
  readonly info: CandidateInfo | undefined;
  readonly #store: FakeStore;
  readonly #backend: FakeBackend;
  readonly #lockName: string;

  constructor(store: FakeStore, backend: FakeBackend, lockName: string, token: bigint, info: CandidateInfo | undefined) {
    super(lockName === ELECTION ? 'leader' : lockName, token, backend);
    this.#store = store;
    this.#backend = backend;
    this.#lockName = lockName;
    this.info = info;
  }

  /** Held at the "server" right now. */
  get held(): boolean {
    return this.#store.lock(this.#lockName).holder === this;
  }

  override async release(): Promise<void> {
    this.#backend.holding.delete(this.#lockName);
    await super.release();
  }

  protected describe(): string {
    return `lease ${this.name}`;
  }

  /** Hands the lock to the next waiter. */
  protected vacate(): void {
    const s = this.#store.lock(this.#lockName);
    if (s.holder === this) {
      s.holder = null;
      this.#store.grantNext(this.#lockName);
    }
  }
}

/** A call as the fake saw it, for assertions such as "no lock call was made". */
export interface RecordedCall {
  method: Method;
  args: unknown[];
}

type Hook = (args: unknown[]) => void | Promise<void>;

/**
 * In-memory `Backend` for scheduler unit tests: real tokens, holds, FIFO waiters, `guardedPut`
 * checking every guard is still the holder with its token (aborting a lost guard's signal), and
 * one acquire/hold per lock name per backend (`UsageError` otherwise); seat sets as `FakeSeats`. Every call is recorded in
 * `calls`; `before(method, hook)` runs a hook first (throw from it to fail the call), and methods
 * in `forbidden` (default `put`, which the scheduler must never use) throw `UsageError`.
 */
export class FakeBackend implements Backend {
  readonly kind = 'embedded' as const;
  readonly ttlMs: number;
  readonly store: FakeStore;
  readonly calls: RecordedCall[] = [];
  readonly forbidden: Set<Method>;
  /** Names with an acquire in progress or a hold, for the one-per-name rule. */
  readonly holding = new Set<string>();
  readonly sessionId = `fake-${Math.random().toString(36).slice(2)}`;
  readonly #hooks = new Map<Method, Hook[]>();
  readonly #after = new Map<Method, Hook[]>();

  constructor(opts: { store?: FakeStore; ttlMs?: number; forbidden?: Method[] } = {}) {
    this.store = opts.store ?? new FakeStore();
    this.ttlMs = opts.ttlMs ?? 10_000;
    this.forbidden = new Set(opts.forbidden ?? ['put']);
  }

  /** Runs `hook(args)` before every call of `method`; a throw (or rejection) fails the call. */
  before(method: Method, hook: Hook): void {
    this.#hooks.set(method, [...(this.#hooks.get(method) ?? []), hook]);
  }

  /** Runs `hook(args)` after `method` did its work, before the caller sees the result. */
  after(method: Method, hook: Hook): void {
    this.#after.set(method, [...(this.#after.get(method) ?? []), hook]);
  }

  /** Calls of `method` so far. */
  callsOf(method: Method): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  /** The lease is gone at the server and its signal aborts (session expiry, partition). */
  expire(lease: Lease): void {
    (lease as FakeLease | FakeSeatLease).drop(new LeadershipLostError(`lease ${lease.name} expired`));
  }

  /** The local deadline passed but the abort has not run yet (timers after SIGSTOP). */
  lapse(lease: Lease): void {
    (lease as FakeLease | FakeSeatLease).lapsed = true;
  }

  /** Stored value of `key`, parsed as JSON (for assertions). */
  json<T>(key: string): T | undefined {
    const v = this.store.kv.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  async #enter(method: Method, args: unknown[]): Promise<void> {
    this.calls.push({ method, args });
    if (this.forbidden.has(method)) throw new UsageError(`FakeBackend: unexpected call ${method}(${JSON.stringify(args[0])})`);
    for (const hook of this.#hooks.get(method) ?? []) await hook(args);
  }

  async #leave(method: Method, args: unknown[]): Promise<void> {
    for (const hook of this.#after.get(method) ?? []) await hook(args);
  }

  async campaign(me: CandidateInfo, opts: { signal?: AbortSignal } = {}): Promise<Lease> {
    await this.#enter('campaign', [me, opts]);
    return this.#wait(ELECTION, me, opts.signal);
  }

  async observe(): Promise<ElectionView> {
    await this.#enter('observe', []);
    const s = this.store.lock(ELECTION);
    const leader = s.holder?.info ? { ...s.holder.info, token: s.holder.token } : null;
    const candidates = [...(s.holder?.info ? [s.holder.info] : []), ...s.waiters.flatMap((w) => (w.info ? [w.info] : []))];
    return { leader, candidates };
  }

  async locks(): Promise<LockView[]> {
    await this.#enter('locks', []);
    return [...this.store.locks.entries()]
      .filter(([name, s]) => name !== ELECTION && s.holder !== null)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, s]) => ({ name, token: s.holder!.token, holder: s.holder!.info ?? null, waiting: s.waiters.length }));
  }

  async tryAcquire(name: string, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease | null> {
    await this.#enter('tryAcquire', [name, opts]);
    opts.signal?.throwIfAborted();
    this.#claim(name);
    const s = this.store.lock(name);
    if (s.holder || s.waiters.length > 0) {
      this.holding.delete(name);
      return null;
    }
    s.holder = new FakeLease(this.store, this, name, ++this.store.revision, opts.info);
    await this.#leave('tryAcquire', [name, opts]);
    return s.holder;
  }

  async acquire(name: string, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease> {
    await this.#enter('acquire', [name, opts]);
    this.#claim(name);
    return this.#wait(name, opts.info, opts.signal);
  }

  /** A seat if free (see `FakeSeats`); one backend may hold several seats of a set. */
  async tryAcquireSeat(name: string, seats: number, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease | null> {
    await this.#enter('tryAcquireSeat', [name, seats, opts]);
    checkSeats(seats);
    opts.signal?.throwIfAborted();
    const lease = this.store.seats.tryAcquire(name, seats, this);
    await this.#leave('tryAcquireSeat', [name, seats, opts]);
    return lease;
  }

  async acquireSeat(name: string, seats: number, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease> {
    await this.#enter('acquireSeat', [name, seats, opts]);
    checkSeats(seats);
    return this.store.seats.acquire(name, seats, this, opts.signal);
  }

  /** The fence of both guarded writes: a seat is refused, a guard no longer held expires and throws. */
  #checkGuards(guards: Lease | readonly Lease[]): void {
    for (const g of Array.isArray(guards) ? (guards as readonly Lease[]) : [guards as Lease]) {
      if (g instanceof FakeSeatLease) throw new UsageError(`FakeBackend: a seat of ${g.name} is not a guard`);
      const lease = g as FakeLease;
      if (!lease.held) {
        this.expire(lease);
        throw new LeadershipLostError(`guard ${lease.name} (token ${lease.token}) is not held`);
      }
    }
  }

  async guardedPut(guards: Lease | readonly Lease[], key: string, value: string, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    await this.#enter('guardedPut', [guards, key, value, opts]);
    this.#checkGuards(guards);
    if (opts.ifAbsent && this.store.kv.has(key)) return false;
    this.store.kv.set(key, value);
    await this.#leave('guardedPut', [guards, key, value, opts]);
    return true;
  }

  async guardedPutAll(guards: Lease | readonly Lease[], entries: readonly KeyValue[]): Promise<void> {
    await this.#enter('guardedPutAll', [guards, entries]);
    checkPutAll(entries);
    this.#checkGuards(guards);
    for (const { key, value } of entries) this.store.kv.set(key, value);
    await this.#leave('guardedPutAll', [guards, entries]);
  }

  async put(key: string, value: string): Promise<void> {
    await this.#enter('put', [key, value]);
    this.store.kv.set(key, value);
  }

  async get(key: string): Promise<string | undefined> {
    await this.#enter('get', [key]);
    return this.store.kv.get(key);
  }

  async list(prefix: string): Promise<KeyValue[]> {
    await this.#enter('list', [prefix]);
    return this.store.kv.keysWithPrefix(prefix).map((key) => ({ key, value: this.store.kv.get(key)! }));
  }

  async delete(key: string): Promise<void> {
    await this.#enter('delete', [key]);
    this.store.kv.delete(key);
  }

  watchPrefix(): () => void {
    this.calls.push({ method: 'watchPrefix', args: [] });
    return () => undefined;
  }

  health(): BackendHealth {
    return { up: true, sessionRemainingMs: this.ttlMs };
  }

  async close(): Promise<void> {
    this.calls.push({ method: 'close', args: [] });
    for (const s of this.store.locks.values()) {
      if (s.holder && this.holding.has(s.holder.name)) this.expire(s.holder);
    }
    for (const seat of this.store.seats.heldBy(this.sessionId)) this.expire(seat);
    this.holding.clear();
  }

  #claim(name: string): void {
    if (this.holding.has(name)) throw new UsageError(`FakeBackend: ${name} is already acquired or being acquired by this backend`);
    this.holding.add(name);
  }

  #wait(lockName: string, info: CandidateInfo | undefined, signal: AbortSignal | undefined): Promise<Lease> {
    return new Promise<Lease>((resolve, reject) => {
      if (signal?.aborted) {
        this.holding.delete(lockName);
        reject(signal.reason);
        return;
      }
      const s = this.store.lock(lockName);
      const onAbort = (): void => {
        s.waiters = s.waiters.filter((w) => w !== waiter);
        this.holding.delete(lockName);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        backend: this,
        info,
        grant: (lease) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(lease);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      s.waiters.push(waiter);
      this.store.grantNext(lockName);
    });
  }
}
