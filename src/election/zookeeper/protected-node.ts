import { randomUUID } from 'node:crypto';

/**
 * Apache Curator's node naming, so lockd and Curator recipes share one queue:
 * `withProtection()` prepends `_c_<uuid>-` to the node name, LeaderLatch names its nodes
 * `latch-`, InterProcessMutex `lock-`, InterProcessSemaphoreV2 its lease nodes `lease-`, and
 * ZooKeeper appends a 10-digit sequence:
 * `_c_0f8c2a4e-6d1b-4c3e-9a57-2b8d7e1f0a93-latch-0000000007`.
 */
export type LockNodeName = 'latch-' | 'lock-' | 'lease-';

/** LeaderLatch's node name. */
export const LATCH_NODE_NAME: LockNodeName = 'latch-';
/** InterProcessMutex's node name. */
export const LOCK_NODE_NAME: LockNodeName = 'lock-';
/** InterProcessSemaphoreV2's lease node name. */
export const LEASE_NODE_NAME: LockNodeName = 'lease-';

const PROTECTED_PREFIX = '_c_';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PREFIX_WITH_UUID_LENGTH = PROTECTED_PREFIX.length + 36 + 1;

/** A fresh protection id: a random UUID in canonical lowercase text, as Java's `UUID.toString()`. */
export function newProtectedId(): string {
  return randomUUID();
}

/** `_c_<id>-`: every node created under protection id `id` starts with this. */
export function protectedPrefix(id: string): string {
  return `${PROTECTED_PREFIX}${id}-`;
}

/** The path handed to the sequential create: `<dir>/_c_<id>-<lockName>`. */
export function protectedCreatePath(dir: string, id: string, lockName: LockNodeName): string {
  return `${dir}/${protectedPrefix(id)}${lockName}`;
}

/** True when `name` starts with a well-formed protection prefix (Curator's `isProtectedZNode`). */
export function isProtectedName(name: string): boolean {
  return (
    name.length > PREFIX_WITH_UUID_LENGTH &&
    name.startsWith(PROTECTED_PREFIX) &&
    name[PREFIX_WITH_UUID_LENGTH - 1] === '-' &&
    UUID_RE.test(name.slice(PROTECTED_PREFIX.length, PREFIX_WITH_UUID_LENGTH - 1))
  );
}

/**
 * The key Curator sorts a child by: the text after the last occurrence of `lockName` (the
 * sequence), or the whole name when `lockName` does not occur. The protection prefix is thereby
 * ignored, so a node's uuid never changes its place in the queue.
 */
export function sequenceSortKey(name: string, lockName: LockNodeName): string {
  const at = name.lastIndexOf(lockName);
  return at === -1 ? name : name.slice(at + lockName.length);
}

/**
 * Children in queue order, as Curator's `LockInternals.getSortedChildren` orders them: a stable
 * sort on `sequenceSortKey`, compared as strings (UTF-16 code units, like Java's `compareTo`).
 * The first one holds the lock or leads.
 */
export function sortBySequence(children: readonly string[], lockName: LockNodeName): string[] {
  const keyed = children.map((name) => ({ name, key: sequenceSortKey(name, lockName) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map((k) => k.name);
}

/**
 * The child created under protection id `id`, if any: how a create whose reply was lost (the
 * connection dropped or the call timed out) finds the node it may have made, instead of creating
 * a second one and leaving the first as an orphan that would block the queue for the session's life.
 */
export function findOwnNode(children: readonly string[], id: string): string | undefined {
  const prefix = protectedPrefix(id);
  return children.find((c) => c.startsWith(prefix));
}
