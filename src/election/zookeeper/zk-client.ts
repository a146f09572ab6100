import type { Socket } from 'node:net';
import zookeeper from 'node-zookeeper-client';
import type { ACL, Client, Event, Stat, State } from 'node-zookeeper-client';
import type { Clock } from '../../clock.js';
import { BackendUnavailableError } from '../../errors.js';
import { callWithDeadline, unexpected, type Reply } from './zk-call.js';
import { parentPath } from './zk-layout.js';
import { ZkCode, toZkStat, type ZkConnectionEvent, type ZkMultiResult, type ZkOp, type ZkStat } from './zk-types.js';

/** How `ZkClient.open` reaches the ensemble. */
export interface ZkClientOptions {
  hosts: string;
  /** Requested session timeout; the server may cap it (see `negotiatedTimeoutMs`). */
  sessionTimeoutMs: number;
  auth?: { scheme: 'digest'; credentials: string };
  /** Nodes created world-writable even with `auth` (shared by other clusters or applications). */
  sharedPaths?: readonly string[];
  clock: Clock;
  /** How long `open` waits for a session before failing. */
  connectTimeoutMs: number;
}

// The library waits up to this long between rounds over the server list; its 1 s default
// would eat most of a short session timeout during a failover.
const SPIN_DELAY_MS = 100;
const CLOSE_GRACE_MS = 1000;
const OPEN_ACL = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))];

/**
 * One ZooKeeper session (node-zookeeper-client 1.1.3) behind promises. Every call has a deadline,
 * since the library has none: a call not answered in time rejects with `BackendUnavailableError`.
 * A connection loss or expired session also rejects with `BackendUnavailableError`; missing
 * permissions with `BackendStorageError`. Outcomes callers branch on (no node, node exists) are
 * return values. Tracks `lastAckSentAt`, the basis of the self-fencing deadline.
 */
export class ZkClient {
  /** Monotonic time at which the most recent request that a server answered was sent. */
  lastAckSentAt: number;
  /** Default deadline of a call, derived from the negotiated session timeout. */
  callTimeoutMs: number;
  /** Called whenever `lastAckSentAt` moves forward. */
  onAck: (() => void) | undefined;
  private readonly listeners = new Set<(event: ZkConnectionEvent) => void>();
  private readonly acl: ACL[];
  private readonly sharedPaths: ReadonlySet<string>;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly client: Client,
    private readonly clock: Clock,
    opts: ZkClientOptions,
  ) {
    this.lastAckSentAt = clock.monotonic();
    this.callTimeoutMs = Math.round(opts.sessionTimeoutMs / 3);
    // With credentials, nodes are created readable and writable only by the same identity.
    this.acl = opts.auth ? [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('auth', ''))] : OPEN_ACL;
    this.sharedPaths = new Set(opts.sharedPaths ?? []);
    client.on('state', (state: State) => {
      const event = toConnectionEvent(state);
      if (event !== undefined && this.closing === undefined) for (const l of this.listeners) l(event);
    });
  }

  /**
   * Connects and resolves once a session exists. Rejects with `BackendUnavailableError` when no
   * server accepts a session within `connectTimeoutMs` (or the session is refused), with the
   * signal's reason when aborted; the half-open client is closed in both cases.
   */
  static open(opts: ZkClientOptions, { signal }: { signal?: AbortSignal } = {}): Promise<ZkClient> {
    signal?.throwIfAborted();
    const raw = zookeeper.createClient(opts.hosts, {
      sessionTimeout: opts.sessionTimeoutMs,
      spinDelay: SPIN_DELAY_MS,
      retries: 0,
    });
    if (opts.auth) raw.addAuthInfo(opts.auth.scheme, Buffer.from(opts.auth.credentials));
    const client = new ZkClient(raw, opts.clock, opts);
    return new Promise((resolve, reject) => {
      const finish = (error?: unknown): void => {
        cancelTimer();
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) {
          client.callTimeoutMs = Math.round(client.negotiatedTimeoutMs / 3);
          // A bound late by at most the connect's round trip; every call made before a lease
          // exists replaces it with its own (earlier, exact) send time.
          client.lastAckSentAt = opts.clock.monotonic();
          resolve(client);
        } else {
          void client.close();
          reject(error);
        }
      };
      const onAbort = (): void => finish(signal?.reason);
      const cancelTimer = opts.clock.setTimer(opts.connectTimeoutMs, () =>
        finish(new BackendUnavailableError(`no zookeeper session from ${opts.hosts} within ${opts.connectTimeoutMs}ms`)),
      );
      const unsubscribe = client.onConnection((event) => {
        if (event === 'connected') finish();
        else if (event !== 'disconnected') finish(new BackendUnavailableError(`zookeeper at ${opts.hosts} refused the session: ${event}`));
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      raw.connect();
    });
  }

  /** The session id, as servers report it in `ephemeralOwner`. */
  get sessionId(): bigint {
    return this.client.getSessionId().readBigUInt64BE(0);
  }

  /** The session timeout the server granted (it caps the request to its min/max). */
  get negotiatedTimeoutMs(): number {
    return this.client.getSessionTimeout();
  }

  /** Subscribes to connection events; returns the unsubscribe function. */
  onConnection(listener: (event: ZkConnectionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stat of `path`, or null when it does not exist. A watcher fires once on its next change. */
  async exists(path: string, opts: { watcher?: (e: Event) => void; timeoutMs?: number } = {}): Promise<ZkStat | null> {
    const { watcher } = opts;
    const r = await this.call<Stat | null>('exists', path, opts.timeoutMs, (cb) =>
      watcher ? this.client.exists(path, watcher, cb) : this.client.exists(path, cb),
    );
    if (!r.ok) throw unexpected('exists', path, r.code);
    return r.value ? toZkStat(r.value) : null;
  }

  /**
   * Data and stat of `path`, or null when it does not exist (no watch is left then). `data` is
   * null for a node created without data (a parent made by `mkdirp`), unlike an empty value.
   */
  async getData(path: string, watcher?: (e: Event) => void): Promise<{ data: Buffer | null; stat: ZkStat } | null> {
    const r = await this.call<[Buffer | undefined, Stat]>('getData', path, undefined, (cb) => {
      const done = (e: unknown, data?: Buffer, stat?: Stat): void => cb(e, [data, stat as Stat]);
      if (watcher) this.client.getData(path, watcher, done);
      else this.client.getData(path, done);
    });
    if (r.ok) return { data: r.value[0] ?? null, stat: toZkStat(r.value[1]) };
    if (r.code === ZkCode.NO_NODE) return null;
    throw unexpected('getData', path, r.code);
  }

  /** Child names of `path`, or null when it does not exist. */
  async getChildren(path: string, watcher?: (e: Event) => void): Promise<string[] | null> {
    const r = await this.call<string[]>('getChildren', path, undefined, (cb) =>
      watcher ? this.client.getChildren(path, watcher, cb) : this.client.getChildren(path, cb),
    );
    if (r.ok) return r.value;
    if (r.code === ZkCode.NO_NODE) return null;
    throw unexpected('getChildren', path, r.code);
  }

  /** Creates a node (`data: null` = no data); resolves with its actual path, or with why it was not created. */
  async create(
    path: string,
    data: Buffer | null,
    mode: 'persistent' | 'ephemeral-sequential',
  ): Promise<{ path: string } | { failed: 'NODE_EXISTS' | 'NO_NODE' }> {
    const flags = mode === 'persistent' ? zookeeper.CreateMode.PERSISTENT : zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL;
    const acl = this.sharedPaths.has(path) ? OPEN_ACL : this.acl;
    const r = await this.call<string>('create', path, undefined, (cb) =>
      data === null ? this.client.create(path, acl, flags, cb) : this.client.create(path, data, acl, flags, cb),
    );
    if (r.ok) return { path: r.value };
    if (r.code === ZkCode.NODE_EXISTS) return { failed: 'NODE_EXISTS' };
    if (r.code === ZkCode.NO_NODE) return { failed: 'NO_NODE' };
    throw unexpected('create', path, r.code);
  }

  /** Creates `path` and any missing parents as persistent nodes without data. */
  async mkdirp(path: string): Promise<void> {
    const r = await this.create(path, null, 'persistent');
    if ('failed' in r && r.failed === 'NO_NODE') {
      await this.mkdirp(parentPath(path));
      await this.mkdirp(path);
    }
  }

  /** Overwrites the data of `path` if its version is `version` (-1: any). */
  async setData(path: string, data: Buffer, version = -1): Promise<'set' | 'absent' | 'bad-version'> {
    const r = await this.call<Stat>('setData', path, undefined, (cb) => this.client.setData(path, data, version, cb));
    if (r.ok) return 'set';
    if (r.code === ZkCode.NO_NODE) return 'absent';
    if (r.code === ZkCode.BAD_VERSION) return 'bad-version';
    throw unexpected('setData', path, r.code);
  }

  /** Deletes `path` (any version). */
  async remove(path: string): Promise<'removed' | 'absent' | 'not-empty'> {
    const r = await this.call<undefined>('delete', path, undefined, (cb) => this.client.remove(path, -1, (e) => cb(e)));
    if (r.ok) return 'removed';
    if (r.code === ZkCode.NO_NODE) return 'absent';
    if (r.code === ZkCode.NOT_EMPTY) return 'not-empty';
    throw unexpected('delete', path, r.code);
  }

  /**
   * Runs `ops` as one transaction: all apply or none does. Checks are version-agnostic. Goes
   * through the ensemble leader, so an answer (even a failed op) proves the session is alive.
   */
  async multi(ops: readonly ZkOp[], opts: { timeoutMs?: number } = {}): Promise<ZkMultiResult> {
    const tx = this.client.transaction();
    // The library turns version 0 into "any" (`version || -1`); its op list is patched instead.
    const queued = (tx as unknown as { ops: { version?: number }[] }).ops;
    for (const op of ops) {
      if (op.kind === 'check') tx.check(op.path, -1);
      else if (op.kind === 'create') tx.create(op.path, op.data, this.acl, zookeeper.CreateMode.PERSISTENT);
      else {
        tx.setData(op.path, op.data, -1);
        const last = queued[queued.length - 1];
        if (last) last.version = op.version ?? -1;
      }
    }
    const r = await this.call<{ results: { type: number; err?: number }[] }>('multi', ops[0]?.path ?? '/', opts.timeoutMs, (cb) =>
      tx.commit((error, results: unknown) => {
        // A failed op fails the whole transaction, which the server still answers with per-op results.
        if (error && Array.isArray(results)) cb(null, { results });
        else cb(error, { results: [] });
      }),
    );
    if (!r.ok) throw unexpected('multi', ops[0]?.path ?? '/', r.code);
    const index = r.value.results.findIndex((res) => res.type === -1 && res.err !== undefined && res.err !== 0);
    return index === -1 ? { ok: true } : { ok: false, index, code: r.value.results[index]?.err ?? 0 };
  }

  /**
   * Ends the session (its ephemeral nodes vanish at once when a server gets the request). Waits up
   * to a second for the server, then drops the socket, since a frozen or blackholed server would
   * otherwise hold it open. Idempotent; never throws.
   */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const connected = this.client.getState() === zookeeper.State.SYNC_CONNECTED;
      let cancel = (): void => {};
      const done = (): void => {
        cancel();
        // The library exposes no way to drop a connection whose server does not answer.
        (this.client as unknown as { connectionManager?: { socket?: Socket } }).connectionManager?.socket?.destroy();
        resolve();
      };
      this.client.close();
      if (!connected) return done();
      this.client.once('disconnected', done);
      cancel = this.clock.setTimer(CLOSE_GRACE_MS, done);
    });
    return this.closing;
  }

  private call<T>(
    op: string,
    path: string,
    timeoutMs: number | undefined,
    send: (cb: (error: unknown, value?: T) => void) => void,
  ): Promise<Reply<T>> {
    return callWithDeadline(this.clock, timeoutMs ?? this.callTimeoutMs, `${op} ${path}`, send, (sentAt) => {
      // Reads are answered by whichever server we talk to, even a follower cut off from the
      // quorum (for up to syncLimit ticks): only requests the ensemble leader answers prove the
      // session is alive there.
      if (QUORUM_OPS.has(op) && sentAt > this.lastAckSentAt) {
        this.lastAckSentAt = sentAt;
        this.onAck?.();
      }
    });
  }
}

/** Requests the ensemble leader answers (writes and transactions), as opposed to local reads. */
const QUORUM_OPS = new Set(['create', 'setData', 'delete', 'multi']);

function toConnectionEvent(state: State): ZkConnectionEvent | undefined {
  if (state === zookeeper.State.SYNC_CONNECTED) return 'connected';
  if (state === zookeeper.State.DISCONNECTED || state === zookeeper.State.CONNECTED_READ_ONLY) return 'disconnected';
  if (state === zookeeper.State.EXPIRED) return 'expired';
  if (state === zookeeper.State.AUTH_FAILED) return 'auth-failed';
  return undefined;
}
