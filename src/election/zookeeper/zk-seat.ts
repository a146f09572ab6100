import type { Logger } from 'pino';
import { BackendStorageError, BackendUnavailableError } from '../../errors.js';
import { LEASE_NODE_NAME, LOCK_NODE_NAME, newProtectedId, protectedPrefix } from './protected-node.js';
import { nodeName } from './zk-layout.js';
import { createProtected, lockNode, type HeldNode } from './zk-lock-core.js';
import type { ZkSession } from './zk-session.js';

/** InterProcessSemaphoreV2's internal mutex, a child of the semaphore path. */
export const SEAT_LOCKS = 'locks';
/** InterProcessSemaphoreV2's lease nodes' directory, a child of the semaphore path. */
export const SEAT_LEASES = 'leases';

/** Which seat set `seatNode` joins, with what data, and whether it waits its turn. */
export interface SeatNodeOptions {
  /** The semaphore path, e.g. `/lockd/<cluster>/seats/<name>`. */
  dir: string;
  /** The seat count this caller judges its turn by (Curator's `maxLeases`). */
  seats: number;
  /** Data of the lease node and of the internal mutex node. */
  data: Buffer;
  /** false: give up (resolve null) when the set is full or anyone is queued. */
  wait: boolean;
  signal?: AbortSignal;
  logger: Logger;
}

/** A held seat: its lease node (token = czxid), and the internal mutex's release, under way. */
export interface HeldSeat extends HeldNode {
  /** Resolves once the internal mutex node is deleted (or queued for deletion); never rejects. */
  mutexReleased: Promise<void>;
}

/**
 * Apache Curator's InterProcessSemaphoreV2 acquire, step for step, so Curator clients and lockd
 * share one seat set: take the internal mutex `<dir>/locks` (an InterProcessMutex queue), create a
 * protected ephemeral-sequential lease node `<dir>/leases/_c_<uuid>-lease-<seq>`, then read the
 * lease children (watching them) until there are at most `seats`, still holding the mutex. So
 * waiters get seats in order of arrival, and lease nodes (hence tokens, their czxids) are created
 * in that order. Before claiming, checks the lease node's ephemeralOwner is this session.
 *
 * The caller must turn the result into a lease without awaiting anything in between (the mutex is
 * released meanwhile; await `mutexReleased` after). A try (`wait` false) first looks without
 * creating anything: anyone queued on the mutex, or `seats` lease nodes, resolves null; when it
 * does create and finds itself behind, it deletes its nodes and resolves null.
 *
 * Rejects with the signal's reason when aborted, with `BackendUnavailableError` when the session is
 * lost or the lease node vanished, with `BackendStorageError` when ZooKeeper refuses the layout.
 * Whenever it does not resolve with a held seat, it deletes whatever it created first.
 */
export async function seatNode(session: ZkSession, opts: SeatNodeOptions): Promise<HeldSeat | null> {
  opts.signal?.throwIfAborted();
  const locksDir = `${opts.dir}/${SEAT_LOCKS}`;
  if (!opts.wait && (await setLooksTaken(session, opts))) return null;
  const { data, signal, logger } = opts;
  const mutex = await lockNode(session, { dir: locksDir, lockName: LOCK_NODE_NAME, data, wait: opts.wait, signal, logger });
  if (mutex === null) return null;
  let held: HeldNode | null = null;
  try {
    held = await takeLease(session, opts);
  } finally {
    if (held === null) await session.discard({ path: mutex.path });
  }
  return held && { ...held, mutexReleased: session.discard({ path: mutex.path }) };
}

// One round trip: someone on the mutex, or the set full by our count, means a try would lose.
async function setLooksTaken(session: ZkSession, opts: SeatNodeOptions): Promise<boolean> {
  const client = session.client;
  const [lockers, leases] = await Promise.all([client.getChildren(`${opts.dir}/${SEAT_LOCKS}`), client.getChildren(`${opts.dir}/${SEAT_LEASES}`)]);
  return (lockers ?? []).length > 0 || (leases ?? []).length >= opts.seats;
}

async function takeLease(session: ZkSession, opts: SeatNodeOptions): Promise<HeldNode | null> {
  const dir = `${opts.dir}/${SEAT_LEASES}`;
  const id = newProtectedId();
  let held: HeldNode | null = null;
  try {
    const path = await createProtected(session, id, { dir, lockName: LEASE_NODE_NAME, data: opts.data, signal: opts.signal, logger: opts.logger });
    held = await waitForSeat(session, dir, path, opts);
    return held;
  } finally {
    if (held === null) await session.discard({ dir, prefix: protectedPrefix(id) });
  }
}

type SeatTurn = { kind: 'held'; node: HeldNode } | { kind: 'full' | 'vanished' | 'again' };

async function waitForSeat(session: ZkSession, dir: string, ourPath: string, opts: SeatNodeOptions): Promise<HeldNode | null> {
  for (;;) {
    opts.signal?.throwIfAborted();
    const wakeup = new Wakeup(session);
    let turn: SeatTurn;
    try {
      await session.waitUntilConnected(opts.signal);
      turn = await readSeat(session, dir, ourPath, opts.seats, wakeup.watcher);
      if (turn.kind === 'full' && opts.wait) await wakeup.wait(opts.signal);
    } catch (error) {
      // Calls that time out during a hiccup are retried once the session is usable again.
      if (!(error instanceof BackendUnavailableError) || session.state === 'lost') throw error;
      continue;
    } finally {
      wakeup.cancel();
    }
    if (turn.kind === 'held') return turn.node;
    if (turn.kind === 'vanished') throw new BackendUnavailableError(`zookeeper lease node ${ourPath} vanished while waiting for a seat`);
    if (turn.kind === 'full' && !opts.wait) return null;
  }
}

async function readSeat(session: ZkSession, dir: string, ourPath: string, seats: number, watcher: () => void): Promise<SeatTurn> {
  const client = session.client;
  // Both reads go out together (one round trip); the stat is only used if we turn out to hold.
  const [children, stat] = await Promise.all([client.getChildren(dir, watcher), client.exists(ourPath)]);
  if (children === null || !children.includes(nodeName(ourPath)) || stat === null) return { kind: 'vanished' };
  if (children.length > seats) return { kind: 'full' };
  if (stat.ephemeralOwner !== client.sessionId) {
    throw new BackendStorageError(`zookeeper node ${ourPath} belongs to session ${stat.ephemeralOwner.toString(16)}`);
  }
  // A suspension during the check means it proves nothing about now; look again.
  if (session.state !== 'connected') return { kind: 'again' };
  return { kind: 'held', node: { path: ourPath, token: stat.czxid } };
}

/**
 * One wait for the lease children to change: `watcher` is handed to the read, and a session state
 * change (after which the set must be read again) counts too, from construction on, so an event
 * between the read and `wait` is not missed.
 */
class Wakeup {
  private fired = false;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;
  readonly watcher = (): void => {
    this.fired = true;
    this.wake?.();
  };

  constructor(session: ZkSession) {
    this.unsubscribe = session.subscribe(this.watcher);
  }

  /** Resolves once fired; rejects with the signal's reason when aborted first. */
  wait(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => finish(signal?.reason);
      const finish = (error?: unknown): void => {
        this.wake = undefined;
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      if (signal?.aborted) return onAbort();
      if (this.fired) return finish();
      this.wake = () => finish();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops listening; a later fire does nothing. */
  cancel(): void {
    this.unsubscribe();
    this.wake = undefined;
  }
}
