import { hostname } from 'node:os';
import type { Logger } from 'pino';
import {
  checkPutAll,
  noSessionWatch,
  type Backend,
  type BackendCommonOptions,
  type BackendHealth,
  type CandidateInfo,
  type ElectionView,
  type KeyValue,
  type Lease,
  type LockView,
} from '../backend.js';
import { systemClock, type Clock } from '../../clock.js';
import type { BackendConfig } from '../../config/types.js';
import { LeadershipLostError, UsageError } from '../../errors.js';
import { checkSeats } from '../seats.js';
import { decodeCandidate, encodeCandidate, encodeSeatHolder } from './candidate-data.js';
import { LATCH_NODE_NAME, LOCK_NODE_NAME, sortBySequence, type LockNodeName } from './protected-node.js';
import { ZkClient } from './zk-client.js';
import { deleteValue, guardedWrite, guardedWriteAll, listValues, readValue, writeValue } from './zk-data.js';
import { ZkLayout, parseConnectString } from './zk-layout.js';
import { ZkLease } from './zk-lease.js';
import { lockNode, type HeldNode } from './zk-lock-core.js';
import { PrefixWatch } from './zk-prefix-watch.js';
import { seatNode } from './zk-seat.js';
import { listSeatHolders } from './zk-seat-view.js';
import { ZkSession } from './zk-session.js';

/** The `backend:` section for ZooKeeper. */
export type ZooKeeperBackendConfig = Extract<BackendConfig, { type: 'zookeeper' }>;

/**
 * Opens lockd's ZooKeeper backend (DESIGN §3): one session (timeout = `common.ttlMs`, or what the
 * server grants) shared by the election, all locks and seats, in Apache Curator's LeaderLatch,
 * InterProcessMutex and InterProcessSemaphoreV2 layout so Curator participants queue with lockd.
 * Connects before resolving; rejects with `BackendUnavailableError` when no server grants a
 * session within the TTL plus a second, and with `UsageError` for a malformed connect string or
 * cluster name.
 */
export async function createZooKeeperBackend(config: ZooKeeperBackendConfig, common: BackendCommonOptions): Promise<Backend> {
  const backend = new ZooKeeperBackend(config, common, systemClock);
  await backend.ensureSession();
  return backend;
}

type Queue = { key: string; name: string; dir: string; lockName: LockNodeName };

/** What `hold` waits for: the election, a lock or a seat, and how to take it. */
type Holding = {
  key: string;
  name: string;
  what: 'leadership' | 'lock' | 'seat';
  /** Resolves with the node proving ownership (null: a try lost), plus anything to await after the lease exists. */
  take: (session: ZkSession) => Promise<(HeldNode & { mutexReleased?: Promise<void> }) | null>;
};

class ZooKeeperBackend implements Backend {
  readonly kind = 'zookeeper' as const;
  private readonly layout: ZkLayout;
  private readonly hosts: string;
  private readonly logger: Logger;
  private session: ZkSession | undefined;
  private opening: Promise<ZkSession> | undefined;
  private closing: Promise<void> | undefined;
  // Queues (election, lock names) with an acquire in progress or a lease held.
  private readonly busy = new Set<string>();
  /** Seat holds begun through this backend: each one's number in its `busy` key. */
  private seatHolds = 0;
  private readonly leases = new Set<ZkLease>();
  private readonly issued = new WeakSet<ZkLease>();
  private readonly watches = new Set<PrefixWatch>();

  constructor(
    private readonly config: ZooKeeperBackendConfig,
    private readonly common: BackendCommonOptions,
    private readonly clock: Clock,
  ) {
    const { hosts, chroot } = parseConnectString(config.connect);
    this.hosts = hosts;
    this.layout = new ZkLayout(chroot, common.cluster);
    this.logger = common.logger.child({ component: 'election', backend: 'zookeeper' });
  }

  get ttlMs(): number {
    return this.session?.timeoutMs ?? this.common.ttlMs;
  }

  async campaign(me: CandidateInfo, opts: { signal?: AbortSignal } = {}): Promise<Lease> {
    const queue = { key: 'election', name: 'leader', dir: this.layout.leaderDir, lockName: LATCH_NODE_NAME };
    return (await this.hold(this.queued(queue, 'leadership', me, true, opts.signal), me, opts.signal)) as Lease;
  }

  async observe(): Promise<ElectionView> {
    const client = (await this.ensureSession()).client;
    const dir = this.layout.leaderDir;
    const sorted = sortBySequence((await client.getChildren(dir)) ?? [], LATCH_NODE_NAME);
    const nodes = (await Promise.all(sorted.map((c) => client.getData(`${dir}/${c}`)))).filter((n) => n !== null);
    const candidates = nodes.map((n) => decodeCandidate(n.data, n.stat));
    const first = nodes[0];
    return { leader: first && candidates[0] ? { ...candidates[0], token: first.stat.czxid } : null, candidates };
  }

  async locks(): Promise<LockView[]> {
    const client = (await this.ensureSession()).client;
    const [lockViews, seatViews] = await Promise.all([this.lockHolders(), listSeatHolders(client, this.layout.seatsDir)]);
    // A stable sort keeps a lock ahead of the seat holders of its name, and each set's holders in token order.
    return [...lockViews, ...seatViews].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  }

  private async lockHolders(): Promise<LockView[]> {
    const client = (await this.ensureSession()).client;
    const names = ((await client.getChildren(this.layout.locksDir)) ?? []).sort();
    const views = await Promise.all(
      names.map(async (name): Promise<LockView | undefined> => {
        const dir = this.layout.lockDir(name);
        const sorted = sortBySequence((await client.getChildren(dir)) ?? [], LOCK_NODE_NAME);
        // The holder may release between the two reads: then the next one holds.
        for (const [i, child] of sorted.entries()) {
          const node = await client.getData(`${dir}/${child}`);
          if (node !== null) {
            return { name, token: node.stat.czxid, holder: node.data?.length ? decodeCandidate(node.data, node.stat) : null, waiting: sorted.length - i - 1 };
          }
        }
        return undefined;
      }),
    );
    return views.filter((v): v is LockView => v !== undefined);
  }

  async tryAcquire(name: string, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease | null> {
    const info = opts.info ?? defaultInfo();
    return this.hold(this.queued(this.lockQueue(name), 'lock', info, false, opts.signal), info, opts.signal);
  }

  async acquire(name: string, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease> {
    const info = opts.info ?? defaultInfo();
    return (await this.hold(this.queued(this.lockQueue(name), 'lock', info, true, opts.signal), info, opts.signal)) as Lease;
  }

  async tryAcquireSeat(name: string, seats: number, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease | null> {
    checkSeats(seats);
    const info = opts.info ?? defaultInfo();
    return this.hold(this.seat(name, seats, info, false, opts.signal), info, opts.signal);
  }

  async acquireSeat(name: string, seats: number, opts: { signal?: AbortSignal; info?: CandidateInfo } = {}): Promise<Lease> {
    checkSeats(seats);
    const info = opts.info ?? defaultInfo();
    return (await this.hold(this.seat(name, seats, info, true, opts.signal), info, opts.signal)) as Lease;
  }

  async guardedPut(guards: Lease | readonly Lease[], key: string, value: string, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const leases = this.validGuards(guards);
    const path = this.layout.dataPath(key);
    // Every live lease belongs to the current session: a lost session aborted all of its leases.
    const client = (leases[0]?.session ?? (await this.ensureSession())).client;
    const result = await guardedWrite(client, leases.map((l) => l.path), path, Buffer.from(value), opts.ifAbsent === true);
    if (result.kind === 'guard-lost') throw this.lostGuard(leases, result.index);
    return result.kind === 'written';
  }

  async guardedPutAll(guards: Lease | readonly Lease[], entries: readonly KeyValue[]): Promise<void> {
    checkPutAll(entries);
    const leases = this.validGuards(guards);
    if (entries.length === 0) return;
    const client = (leases[0]?.session ?? (await this.ensureSession())).client;
    const writes = entries.map((e) => ({ path: this.layout.dataPath(e.key), data: Buffer.from(e.value) }));
    const result = await guardedWriteAll(client, leases.map((l) => l.path), writes);
    if (result.kind === 'guard-lost') throw this.lostGuard(leases, result.index);
  }

  /** `guards` as leases this backend issued, none aborted; `UsageError` for a foreign lease or a seat, `LeadershipLostError` for an aborted one. */
  private validGuards(guards: Lease | readonly Lease[]): ZkLease[] {
    const leases = (Array.isArray(guards) ? guards : [guards]).map((g: Lease) => {
      if (!(g instanceof ZkLease) || !this.issued.has(g)) throw new UsageError('guardedPut: a guard is not a lease of this backend');
      if (g.isSeat) throw new UsageError(`guardedPut: a seat of "${g.name}" is not a guard; only a lock or leadership can guard a write`);
      return g;
    });
    const lost = leases.find((l) => l.signal.aborted);
    if (lost) throw new LeadershipLostError(`${lost.name} is no longer held (token ${lost.token})`);
    return leases;
  }

  /** Aborts guard `index` of `leases`, whose node the transaction found gone, and returns the error. */
  private lostGuard(leases: readonly ZkLease[], index: number): LeadershipLostError {
    const lease = leases[index] as ZkLease;
    const error = new LeadershipLostError(`${lease.name} is no longer held: ${lease.path} is gone`);
    lease.abort(error);
    return error;
  }

  async put(key: string, value: string): Promise<void> {
    const path = this.layout.dataPath(key);
    await writeValue((await this.ensureSession()).client, path, Buffer.from(value));
  }

  async get(key: string): Promise<string | undefined> {
    const path = this.layout.dataPath(key);
    return readValue((await this.ensureSession()).client, path);
  }

  async list(prefix: string): Promise<KeyValue[]> {
    const target = this.layout.listTarget(prefix);
    return listValues((await this.ensureSession()).client, target, (path) => this.layout.isReserved(path));
  }

  async delete(key: string): Promise<void> {
    const path = this.layout.dataPath(key);
    await deleteValue((await this.ensureSession()).client, path);
  }

  watchPrefix(prefix: string, onChange: () => void): () => void {
    const watch = new PrefixWatch(this.layout.listTarget(prefix), onChange, this.logger);
    this.watches.add(watch);
    if (this.session && this.session.state !== 'lost') watch.attach(this.session, false);
    else void this.ensureSession().catch((error: unknown) => this.logger.debug({ err: error }, 'watchPrefix: no session yet'));
    return () => {
      watch.stop();
      this.watches.delete(watch);
    };
  }

  health(): BackendHealth {
    if (this.closing) return { up: false, reason: 'backend closed' };
    const s = this.session;
    if (s === undefined) return { up: false, reason: this.opening ? 'connecting to zookeeper' : 'no zookeeper session' };
    if (s.state === 'lost') return { up: false, reason: `zookeeper session lost: ${s.reason}` };
    const sessionRemainingMs = Math.round(s.remainingMs());
    if (s.canAct()) return { up: true, sessionRemainingMs };
    return { up: false, reason: s.reason ?? 'no reply from zookeeper before the deadline', sessionRemainingMs };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const watch of this.watches) watch.stop();
      this.watches.clear();
      await Promise.all([...this.leases].map((l) => l.release()));
      await this.opening?.catch(() => undefined);
      await this.session?.close();
    })();
    return this.closing;
  }

  /**
   * The live session, opening a new one when there is none or it was lost. Rejects with
   * `BackendUnavailableError` when no server grants one, with the signal's reason when aborted.
   */
  async ensureSession(signal?: AbortSignal): Promise<ZkSession> {
    signal?.throwIfAborted();
    if (this.closing) throw new UsageError('the zookeeper backend is closed');
    if (this.session && this.session.state !== 'lost') return this.session;
    this.opening ??= this.openSession().finally(() => (this.opening = undefined));
    if (!signal) return this.opening;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      this.opening?.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private async openSession(): Promise<ZkSession> {
    const requestedMs = this.common.ttlMs;
    const client = await ZkClient.open({
      hosts: this.hosts,
      sessionTimeoutMs: requestedMs,
      auth: this.config.auth,
      sharedPaths: this.layout.sharedAncestors,
      clock: this.clock,
      connectTimeoutMs: requestedMs + 1000,
    });
    const session = new ZkSession(client, this.clock, this.logger, this.layout.base, this.common.sessionWatch ?? noSessionWatch);
    if (this.closing) {
      await session.close();
      throw new UsageError('the zookeeper backend is closed');
    }
    if (session.timeoutMs !== requestedMs) {
      this.logger.warn({ requestedMs, negotiatedMs: session.timeoutMs }, 'zookeeper server changed the session timeout; using its value');
    }
    this.logger.info({ sessionId: client.sessionId.toString(16), timeoutMs: session.timeoutMs }, 'zookeeper session established');
    session.subscribe((state) => {
      if (state === 'connected') for (const watch of this.watches) watch.attach(session, true);
    });
    this.session = session;
    for (const watch of this.watches) watch.attach(session, true);
    return session;
  }

  private lockQueue(name: string): Queue {
    return { key: `lock:${name}`, name, dir: this.layout.lockDir(name), lockName: LOCK_NODE_NAME };
  }

  // A queue of the election or a lock; a try skips creating a node when anyone is queued.
  private queued(queue: Queue, what: 'leadership' | 'lock', info: CandidateInfo, wait: boolean, signal: AbortSignal | undefined): Holding {
    const take = async (session: ZkSession): Promise<HeldNode | null> => {
      if (!wait && ((await session.client.getChildren(queue.dir)) ?? []).length > 0) return null;
      return lockNode(session, { dir: queue.dir, lockName: queue.lockName, data: encodeCandidate(info), wait, signal, logger: this.logger });
    };
    return { key: queue.key, name: queue.name, what, take };
  }

  // Seat sets are keyed apart from locks, so a seat and the lock of its name may be held at once;
  // each seat hold is keyed by its own number, so one backend may hold several seats of a set.
  private seat(name: string, seats: number, info: CandidateInfo, wait: boolean, signal: AbortSignal | undefined): Holding {
    const dir = this.layout.seatDir(name);
    const take = (session: ZkSession): ReturnType<Holding['take']> =>
      seatNode(session, { dir, seats, data: encodeSeatHolder(info, seats), wait, signal, logger: this.logger });
    return { key: `seat:${name}#${++this.seatHolds}`, name, what: 'seat', take };
  }

  private async hold(holding: Holding, info: CandidateInfo, signal: AbortSignal | undefined): Promise<ZkLease | null> {
    signal?.throwIfAborted();
    const what = holding.what === 'seat' ? `a seat of "${holding.name}"` : holding.name;
    if (this.busy.has(holding.key)) throw new UsageError(`${what}: already being acquired or held by this backend`);
    this.busy.add(holding.key);
    let lease: ZkLease | undefined;
    try {
      const session = await this.ensureSession(signal);
      const held = await holding.take(session);
      if (held === null) return null;
      const onEnd = (ended: ZkLease, reason: LeadershipLostError): void => this.onLeaseEnd(holding, ended, reason, info);
      lease = new ZkLease(holding.name, held.token, held.path, session, onEnd, holding.what === 'seat');
      this.issued.add(lease);
      if (!lease.signal.aborted) this.leases.add(lease);
      const fields = { node: info.node, token: String(held.token), name: holding.name };
      if (holding.what === 'leadership') this.logger.info(fields, 'elected leader');
      else this.logger.debug(fields, `${holding.what} acquired`);
      await held.mutexReleased;
      return lease;
    } finally {
      if (lease === undefined) this.busy.delete(holding.key);
    }
  }

  private onLeaseEnd(holding: Holding, lease: ZkLease, reason: LeadershipLostError, info: CandidateInfo): void {
    this.busy.delete(holding.key);
    this.leases.delete(lease);
    const fields = { node: info.node, token: String(lease.token), name: holding.name, reason: reason.message };
    if (holding.what === 'leadership') this.logger.info(fields, 'leadership ended');
    else this.logger.debug(fields, `${holding.what} ended`);
  }
}

function defaultInfo(): CandidateInfo {
  return { node: `${hostname()}-${process.pid}`, host: hostname(), pid: process.pid, since: new Date().toISOString() };
}
