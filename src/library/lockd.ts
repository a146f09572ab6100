import { hostname } from 'node:os';
import { pino } from 'pino';
import { linkSignals } from '../abort.js';
import { parseDuration } from '../config/duration.js';
import type { Backend, CandidateInfo, FencingToken, Lease } from '../election/backend.js';
import { createBackend } from '../election/create-backend.js';
import { checkSeats } from '../election/seats.js';
import { LockTimeoutError, UsageError } from '../errors.js';
import { resolveConnectOptions, type ConnectOptions } from './connect-options.js';
import { LocalTurns } from './local-turns.js';

/** A held lock, seat or leadership. */
export interface Held {
  readonly name: string;
  /** The fencing token: pass it to the resource you write, which refuses lower ones. */
  readonly token: FencingToken;
  /**
   * Aborts (reason: `LeadershipLostError`) once the lease can no longer be vouched for — before
   * anyone else can be granted it — or on release. Check it, or pass it on, before each write.
   */
  readonly signal: AbortSignal;
  /**
   * Synchronous check on the monotonic clock, for right before a write: after a pause (SIGSTOP,
   * a long GC, a starved VM) timers fire in any order, so `signal` may abort a moment after the
   * process resumes; this is false from the instant the lease stopped being vouched for.
   */
  isValid(): boolean;
  /** Gives it up; idempotent, never throws. */
  release(): Promise<void>;
}

/** How long to wait, and what may cancel the wait. */
export interface WaitOptions {
  /** `'10s'`, milliseconds, or 0 to try once; default: wait as long as it takes. */
  wait?: string | number;
  signal?: AbortSignal;
}

/** What a `withLocks` callback gets: the token of every lock, and a signal that aborts when any is lost. */
export interface HeldLocks {
  readonly tokens: ReadonlyMap<string, FencingToken>;
  readonly signal: AbortSignal;
}

/**
 * Opens a connection to a lockd cluster for use inside a service: locks with fencing tokens,
 * ordered multi-locks, seats (counting semaphores) and leadership, on the same backends and with the same self-fencing as the
 * daemon. Options are checked with the schema of lockd.yaml (`ConfigError` lists every problem);
 * an unreachable backend rejects with `BackendUnavailableError`, a misconfigured one with
 * `BackendStorageError`. Call `close()` when done.
 */
export async function connect(options: ConnectOptions): Promise<Lockd> {
  const resolved = resolveConnectOptions(options);
  const backend = await createBackend(resolved.backend, {
    cluster: resolved.cluster,
    node: resolved.node,
    ttlMs: resolved.ttlMs,
    logger: options.logger ?? pino({ level: 'silent' }),
  });
  return new Lockd(backend, resolved.node);
}

/** A connection to a cluster; see `connect`. */
export class Lockd {
  readonly #backend: Backend;
  readonly #node: string;
  readonly #turns = new LocalTurns();
  readonly #closing = new AbortController();

  /** @internal use `connect()` */
  constructor(backend: Backend, node: string) {
    this.#backend = backend;
    this.#node = node;
  }

  /**
   * Takes lock `name`, waiting in order of arrival up to `wait`. Rejects with `LockTimeoutError`
   * when the wait ends first (nothing is held then), with `signal`'s reason if it aborts, and with
   * `BackendUnavailableError` when the backend cannot be reached.
   */
  async acquire(name: string, opts: WaitOptions = {}): Promise<Held> {
    return this.#take(`lock "${name}"`, name, opts, (backend, o) => (o.try ? backend.tryAcquire(name, o) : backend.acquire(name, o)));
  }

  /**
   * Takes one of the `seats` seats of seat set `name` (a counting semaphore: at most `seats`
   * holders at once, across processes), waiting in order of arrival up to `wait`. Each holder has
   * a fencing token of its own, and loses its seat by the same self-fencing rule as a lock. Every
   * holder should pass the same `seats` (each waiter judges its turn by its own count); an integer
   * 1..1000, else `UsageError`. A seat set is apart from the lock of the same name. Concurrent
   * `acquireSeat` calls of one connection are holders of their own (no local turns, unlike locks):
   * with 3 seats, three calls here may all hold at once. Rejects as `acquire`.
   */
  async acquireSeat(name: string, seats: number, opts: WaitOptions = {}): Promise<Held> {
    checkSeats(seats);
    return this.#take(`a seat of "${name}"`, undefined, opts, (b, o) => (o.try ? b.tryAcquireSeat(name, seats, o) : b.acquireSeat(name, seats, o)));
  }

  /**
   * Runs `fn` while holding a seat of seat set `name` (see `acquireSeat`), then releases it, also
   * when `fn` throws; resolves or rejects as `fn` does.
   */
  async withSeat<T>(name: string, seats: number, opts: WaitOptions, fn: (seat: Held) => Promise<T> | T): Promise<T> {
    return this.#holding(await this.acquireSeat(name, seats, opts), fn);
  }

  /**
   * Runs `fn` while holding lock `name` (see `acquire`), then releases it, also when `fn`
   * throws; resolves or rejects as `fn` does.
   */
  async withLock<T>(name: string, opts: WaitOptions, fn: (lock: Held) => Promise<T> | T): Promise<T> {
    return this.#holding(await this.acquire(name, opts), fn);
  }

  /**
   * Runs `fn` holding every lock of `names`, taken in one canonical (sorted) order so that two
   * callers asking for the same locks in different orders cannot deadlock, all within one `wait`;
   * if one cannot be had, those taken are released and it rejects as `acquire`. Released in
   * reverse order afterwards. `signal` aborts when any of them is lost.
   */
  async withLocks<T>(names: readonly string[], opts: WaitOptions, fn: (locks: HeldLocks) => Promise<T> | T): Promise<T> {
    const ordered = [...new Set(names)].sort();
    const waitMs = waitFor(opts.wait);
    const until = performance.now() + waitMs;
    const locks: Held[] = [];
    try {
      for (const name of ordered) {
        const left = waitMs === Infinity ? Infinity : Math.max(0, until - performance.now());
        locks.push(await this.acquire(name, { wait: waitMs === 0 ? 0 : Math.max(1, left), ...(opts.signal && { signal: opts.signal }) }));
      }
      const link = linkSignals(locks.map((l) => l.signal));
      try {
        return await fn({ tokens: new Map(locks.map((l) => [l.name, l.token])), signal: link.signal });
      } finally {
        link.dispose();
      }
    } finally {
      for (const lock of locks.reverse()) await lock.release();
    }
  }

  /**
   * Campaigns for the cluster's leadership and resolves once this process leads (candidates win
   * in order of arrival). `leader.signal` aborts when leadership is lost; `leader.release()`
   * resigns. Rejects with `signal`'s reason if it aborts first.
   */
  async campaign(opts: { node?: string; signal?: AbortSignal } = {}): Promise<Held> {
    const link = linkSignals([opts.signal, this.#closing.signal]);
    try {
      const leave = (await this.#turns.take('\0leader', link.signal))!;
      try {
        return held(await this.#backend.campaign({ ...this.#info(), ...(opts.node && { node: opts.node }) }, { signal: link.signal }), leave);
      } catch (err) {
        leave();
        throw err;
      }
    } finally {
      link.dispose();
    }
  }

  /** Releases everything held, stops waiting, and closes the backend connection. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closing.signal.aborted) this.#closing.abort(new UsageError('lockd connection closed'));
    await this.#backend.close();
  }

  /**
   * `acquire` and `acquireSeat`: a local turn on `turn` (one lease per lock name per backend;
   * seats pass none), then one try (`wait: 0`) or a wait up to `wait` through `take`. `what`
   * names it in errors.
   */
  async #take(
    what: string,
    turn: string | undefined,
    opts: WaitOptions,
    take: (backend: Backend, o: { signal: AbortSignal; info: CandidateInfo; try: boolean }) => Promise<Lease | null>,
  ): Promise<Held> {
    const waitMs = waitFor(opts.wait);
    const timeout = waitMs === Infinity || waitMs === 0 ? undefined : AbortSignal.timeout(Math.ceil(waitMs));
    const link = linkSignals([opts.signal, this.#closing.signal, timeout]);
    let leave: (() => void) | undefined;
    try {
      leave = turn === undefined ? () => undefined : ((await this.#turns.take(turn, link.signal, waitMs !== 0)) ?? undefined);
      if (leave === undefined) throw new LockTimeoutError(`${what} is held in this process`);
      const lease = await take(this.#backend, { signal: link.signal, info: this.#info(), try: waitMs === 0 });
      if (lease === null) throw new LockTimeoutError(`${what} is held by someone else`);
      return held(lease, leave);
    } catch (err) {
      leave?.();
      if (timeout?.aborted && !opts.signal?.aborted) throw new LockTimeoutError(`${what} not acquired within ${describeWait(waitMs)}`);
      throw err;
    } finally {
      link.dispose();
    }
  }

  /** Runs `fn` with `lease`, then releases it, also when `fn` throws. */
  async #holding<T>(lease: Held, fn: (lease: Held) => Promise<T> | T): Promise<T> {
    try {
      return await fn(lease);
    } finally {
      await lease.release();
    }
  }

  #info(): CandidateInfo {
    return { node: this.#node, host: hostname(), pid: process.pid, since: new Date().toISOString() };
  }
}

function held(lease: Lease, leave: () => void): Held {
  return {
    name: lease.name,
    token: lease.token,
    signal: lease.signal,
    isValid: () => lease.isValid(),
    release: async () => {
      await lease.release();
      leave();
    },
  };
}

function waitFor(wait: string | number | undefined): number {
  if (wait === undefined) return Infinity;
  const ms = typeof wait === 'number' ? wait : parseDuration(wait);
  if (!(ms >= 0)) throw new UsageError(`wait must be a duration like "10s" or a number of milliseconds >= 0, got ${String(wait)}`);
  return ms;
}

function describeWait(ms: number): string {
  return ms === 0 ? 'one try' : `${ms} ms`;
}
