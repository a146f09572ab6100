import type { Logger } from 'pino';
import { BackendStorageError, BackendUnavailableError } from '../../errors.js';
import {
  findOwnNode,
  newProtectedId,
  protectedCreatePath,
  protectedPrefix,
  sortBySequence,
  type LockNodeName,
} from './protected-node.js';
import { nodeName } from './zk-layout.js';
import type { ZkSession } from './zk-session.js';

/** The node that holds a lock or the leadership, with its fencing token (czxid). */
export interface HeldNode {
  path: string;
  token: bigint;
}

/** Which queue `lockNode` joins, with what data, and whether it waits its turn. */
export interface LockNodeOptions {
  /** The queue directory, e.g. `/lockd/<cluster>/leader`. */
  dir: string;
  lockName: LockNodeName;
  data: Buffer;
  /** false: give up (resolve null) when someone is ahead. */
  wait: boolean;
  signal?: AbortSignal;
  logger: Logger;
}

const MAX_CREATE_ATTEMPTS = 5;

/**
 * The lock core shared by the election (Curator LeaderLatch layout) and job locks (Curator
 * InterProcessMutex layout): creates a protected ephemeral-sequential node, then waits until it
 * is first in sequence order, watching only its predecessor. Before claiming, checks that the
 * node's ephemeralOwner is this session. The caller must turn the result into a lease without
 * awaiting anything in between, so no re-check can slip through unregistered.
 *
 * Resolves null when `wait` is false and someone is ahead. Rejects with the signal's reason when
 * aborted, with `BackendUnavailableError` when the session is lost or the node vanished, with
 * `BackendStorageError` when ZooKeeper refuses the layout. Whenever it does not resolve with a
 * held node, it deletes whatever it created first (retried while the session lives).
 */
export async function lockNode(session: ZkSession, opts: LockNodeOptions): Promise<HeldNode | null> {
  opts.signal?.throwIfAborted();
  const id = newProtectedId();
  let held: HeldNode | null = null;
  try {
    const ourPath = await createProtected(session, id, opts);
    held = await waitForTurn(session, ourPath, opts);
    return held;
  } finally {
    if (held === null) await session.discard({ dir: opts.dir, prefix: protectedPrefix(id) });
  }
}

/** Where and what `createProtected` creates. */
export type ProtectedCreate = Pick<LockNodeOptions, 'dir' | 'lockName' | 'data' | 'signal' | 'logger'>;

/**
 * Creates the protected ephemeral-sequential node `<dir>/_c_<id>-<lockName><seq>` (making `dir`
 * when missing) and resolves with its path. A create whose reply is lost may still have happened:
 * the retry first looks for a child carrying protection id `id`, as Curator's protected mode does.
 * Rejects with the signal's reason, with `BackendUnavailableError` when the session is lost or the
 * create keeps failing, with `BackendStorageError` when ZooKeeper refuses the layout. The caller
 * deletes the node (by `id`) when it gives up.
 */
export async function createProtected(session: ZkSession, id: string, opts: ProtectedCreate): Promise<string> {
  const client = session.client;
  const path = protectedCreatePath(opts.dir, id, opts.lockName);
  let lookFirst = false;
  let lastError: unknown;
  for (let attempt = 1; attempt <= MAX_CREATE_ATTEMPTS; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      if (lookFirst) {
        await session.waitUntilConnected(opts.signal);
        const found = findOwnNode((await client.getChildren(opts.dir)) ?? [], id);
        if (found !== undefined) {
          opts.logger.debug({ node: found }, 'found the node of a create whose reply was lost');
          return `${opts.dir}/${found}`;
        }
      }
      const created = await client.create(path, opts.data, 'ephemeral-sequential');
      if ('path' in created) return created.path;
      if (created.failed === 'NODE_EXISTS') throw new BackendStorageError(`zookeeper create ${path}: node exists`);
      // The queue directory is missing (never made, or a Curator container node was reaped).
      await client.mkdirp(opts.dir);
      lastError = new BackendUnavailableError(`zookeeper create ${path}: parent keeps vanishing`);
    } catch (error) {
      if (!(error instanceof BackendUnavailableError) || session.state === 'lost') throw error;
      opts.logger.debug({ err: error.message, attempt }, 'create not confirmed; looking for our node by its protection id');
      lookFirst = true;
      lastError = error;
    }
  }
  throw lastError;
}

type Turn = { kind: 'held'; node: HeldNode } | { kind: 'behind'; predecessor: string } | { kind: 'vanished' | 'again' };

async function waitForTurn(session: ZkSession, ourPath: string, opts: LockNodeOptions): Promise<HeldNode | null> {
  for (;;) {
    opts.signal?.throwIfAborted();
    let turn: Turn;
    try {
      await session.waitUntilConnected(opts.signal);
      turn = await readTurn(session, ourPath, opts);
      if (turn.kind === 'behind' && opts.wait) await predecessorGone(session, turn.predecessor, opts.signal);
    } catch (error) {
      // Calls that time out during a hiccup are retried once the session is usable again.
      if (!(error instanceof BackendUnavailableError) || session.state === 'lost') throw error;
      continue;
    }
    if (turn.kind === 'held') return turn.node;
    if (turn.kind === 'vanished') throw new BackendUnavailableError(`zookeeper node ${ourPath} vanished while queued`);
    if (turn.kind === 'behind' && !opts.wait) return null;
  }
}

async function readTurn(session: ZkSession, ourPath: string, opts: LockNodeOptions): Promise<Turn> {
  const client = session.client;
  // Both reads go out together (one round trip); the stat is only used if we turn out to hold.
  const [children, stat] = await Promise.all([client.getChildren(opts.dir), client.exists(ourPath)]);
  const sorted = sortBySequence(children ?? [], opts.lockName);
  const index = sorted.indexOf(nodeName(ourPath));
  if (index === -1) return { kind: 'vanished' };
  if (index > 0) return { kind: 'behind', predecessor: `${opts.dir}/${sorted[index - 1]}` };
  if (stat === null) return { kind: 'vanished' };
  if (stat.ephemeralOwner !== client.sessionId) {
    throw new BackendStorageError(`zookeeper node ${ourPath} belongs to session ${stat.ephemeralOwner.toString(16)}`);
  }
  // A suspension during the check means it proves nothing about now; look again.
  if (session.state !== 'connected') return { kind: 'again' };
  return { kind: 'held', node: { path: ourPath, token: stat.czxid } };
}

// Resolves when the predecessor is deleted or changes, or the session changes state (after a
// reconnect the queue must be read again); the caller then re-reads the queue.
function predecessorGone(session: ZkSession, path: string, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (error?: unknown): void => {
      if (done) return;
      done = true;
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = (): void => finish(signal?.reason);
    const unsubscribe = session.subscribe(() => finish());
    signal?.addEventListener('abort', onAbort, { once: true });
    // An abort between the caller's last check and here fires no event.
    if (signal?.aborted) return onAbort();
    // getData rather than exists: on a missing node it leaves no watch behind (as Curator does).
    session.client.getData(path, () => finish()).then(
      (found) => {
        if (found === null) finish();
      },
      (error: unknown) => finish(error),
    );
  });
}
