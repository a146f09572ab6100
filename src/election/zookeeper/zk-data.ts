import type { KeyValue } from '../backend.js';
import { BackendStorageError, BackendUnavailableError } from '../../errors.js';
import type { ZkClient } from './zk-client.js';
import { ZkCode, type ZkMultiResult, type ZkOp } from './zk-types.js';
import { parentPath } from './zk-layout.js';
import { mapLimit } from '../../observe/map-limit.js';

/*
 * Data keys as persistent nodes. A key `a/b` is the node `<base>/a/b` with its value as data;
 * the parents `mkdirp` creates for it have no data at all (not even an empty value), which is
 * how a parent that is not itself a key is told apart from a key whose value is ''.
 */

// Each retry follows a concurrent change (node created or deleted between attempts) or a
// missing parent; more than this means the tree keeps changing under us.
const MAX_WRITE_ATTEMPTS = 6;

/** The value of key node `path`, or undefined when there is no such key. */
export async function readValue(client: ZkClient, path: string): Promise<string | undefined> {
  const found = await client.getData(path);
  return found?.data?.toString('utf8');
}

/** Sets key node `path` to `data`, creating it and its parents when missing. */
export async function writeValue(client: ZkClient, path: string, data: Buffer): Promise<void> {
  const result = await guardedWrite(client, [], path, data, false);
  if (result.kind !== 'written') throw new BackendStorageError(`zookeeper write ${path} failed: ${result.kind}`);
}

/**
 * Reads in flight at once while listing. The session has one connection whose requests are
 * answered in order: 10,000 reads sent at once (a list of 10,000 job states) held the session's
 * heartbeat behind them for over a second, and a leader at TTL 2 s lost its session in its start.
 */
export const LIST_READS_IN_FLIGHT = 64;

/**
 * Every key below `dir` (at any depth) whose first segment starts with `childPrefix`, as
 * `keyPrefix + relative path`, sorted by key: the same set an etcd prefix range returns. The
 * election and lock directories (`reserved`) are skipped; a node deleted while being read is left
 * out. Reads level by level, at most `LIST_READS_IN_FLIGHT` at a time.
 */
export async function listValues(
  client: ZkClient,
  target: { dir: string; childPrefix: string; keyPrefix: string },
  reserved: (path: string) => boolean,
): Promise<KeyValue[]> {
  const out: KeyValue[] = [];
  type Dir = { dir: string; keyPrefix: string; childPrefix: string };
  let level: Dir[] = [target];
  while (level.length > 0) {
    const listed = await mapLimit(level, LIST_READS_IN_FLIGHT, async (d) =>
      ((await client.getChildren(d.dir)) ?? []).filter((c) => c.startsWith(d.childPrefix) && !reserved(`${d.dir}/${c}`)).map((child) => ({ parent: d, child })),
    );
    const below = await mapLimit(listed.flat(), LIST_READS_IN_FLIGHT, async ({ parent, child }): Promise<Dir | undefined> => {
      const node = await client.getData(`${parent.dir}/${child}`);
      if (node === null) return undefined;
      if (node.data !== null) out.push({ key: parent.keyPrefix + child, value: node.data.toString('utf8') });
      return node.stat.numChildren > 0 ? { dir: `${parent.dir}/${child}`, keyPrefix: `${parent.keyPrefix}${child}/`, childPrefix: '' } : undefined;
    });
    level = below.filter((d): d is Dir => d !== undefined);
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Deletes key node `path`; nothing when absent. When keys lie below it, only its value is
 * cleared (ZooKeeper cannot delete a node with children, and those keys must stay).
 */
export async function deleteValue(client: ZkClient, path: string): Promise<void> {
  if ((await client.remove(path)) !== 'not-empty') return;
  const result = await client.multi([{ kind: 'set', path, data: null }]);
  if (!result.ok && result.code !== ZkCode.NO_NODE) throw new BackendStorageError(`zookeeper delete ${path}: error code ${result.code}`);
}

/** How a guarded write ended; `guard-lost` names the index of the first guard that is gone. */
export type GuardedWriteResult = { kind: 'written' } | { kind: 'exists' } | { kind: 'guard-lost'; index: number };

type Write = { kind: 'create' } | { kind: 'set'; version: number };

/**
 * Writes `data` at `path` in ONE transaction that also checks every guard node still exists.
 * With `ifAbsent` the write only fills an absent key and an existing one ends it with `exists`;
 * otherwise it sets the value, creating the node when missing. Missing parents are created
 * beforehand, outside the transaction (a parent is harmless on its own). Throws
 * `BackendUnavailableError` when ZooKeeper does not answer or the tree keeps changing,
 * `BackendStorageError` when ZooKeeper refuses the write.
 */
export async function guardedWrite(
  client: ZkClient,
  guardPaths: readonly string[],
  path: string,
  data: Buffer,
  ifAbsent: boolean,
): Promise<GuardedWriteResult> {
  let write: Write = ifAbsent ? { kind: 'create' } : { kind: 'set', version: -1 };
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    const ops: ZkOp[] = [
      // A guard node is ephemeral and its name carries our protection id: it exists exactly as
      // long as our session holds the election or lock it stands for.
      ...guardPaths.map((p): ZkOp => ({ kind: 'check', path: p })),
      // The record itself: create-only for "at most once" slot records, else set-or-create;
      // a versioned set fills a data-less parent node only if nobody filled it meanwhile.
      write.kind === 'create' ? { kind: 'create', path, data } : { kind: 'set', path, data, version: write.version },
    ];
    const result = guardPaths.length === 0 ? await single(client, write, path, data) : await client.multi(ops);
    if (result.ok) return { kind: 'written' };
    if (result.index < guardPaths.length) return { kind: 'guard-lost', index: result.index };
    if (result.code === ZkCode.NODE_EXISTS && !ifAbsent) {
      write = { kind: 'set', version: -1 };
    } else if (result.code === ZkCode.NODE_EXISTS) {
      const existing = await client.getData(path);
      if (existing?.data) return { kind: 'exists' };
      // Gone again (create once more), or a parent of other keys without a value of its own.
      if (existing) write = { kind: 'set', version: existing.stat.version };
    } else if (result.code === ZkCode.BAD_VERSION) {
      write = { kind: 'create' };
    } else if (result.code === ZkCode.NO_NODE && write.kind === 'set') {
      write = { kind: 'create' };
    } else if (result.code === ZkCode.NO_NODE) {
      await client.mkdirp(parentPath(path));
    } else {
      throw new BackendStorageError(`zookeeper write ${path}: error code ${result.code}`);
    }
  }
  throw new BackendUnavailableError(`zookeeper write ${path}: the tree kept changing, gave up after ${MAX_WRITE_ATTEMPTS} attempts`);
}

/**
 * Writes every entry (set-or-create, as `guardedWrite` without `ifAbsent`) in ONE transaction
 * that also checks every guard node still exists: all of them or none. Each entry is first tried
 * as a create (the scheduler's bulk writes fill absent keys); a transaction that fails on an entry
 * teaches that entry's right op (a set when it exists, its parents made when missing) and is sent
 * again, so a batch of keys that all exist costs one round trip more per key. Throws
 * `BackendUnavailableError` when ZooKeeper does not answer or the tree keeps changing,
 * `BackendStorageError` when ZooKeeper refuses the write.
 */
export async function guardedWriteAll(
  client: ZkClient,
  guardPaths: readonly string[],
  entries: readonly { path: string; data: Buffer }[],
): Promise<{ kind: 'written' } | { kind: 'guard-lost'; index: number }> {
  const writes: Write[] = entries.map(() => ({ kind: 'create' }));
  const attempts = 2 * entries.length + MAX_WRITE_ATTEMPTS;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const ops: ZkOp[] = [
      // The guards, as in guardedWrite: each exists exactly as long as our session holds it.
      ...guardPaths.map((p): ZkOp => ({ kind: 'check', path: p })),
      // The entries: an unconditional set (filling a data-less parent too) or a create.
      ...entries.map(({ path, data }, i): ZkOp => (writes[i]!.kind === 'create' ? { kind: 'create', path, data } : { kind: 'set', path, data, version: -1 })),
    ];
    const result = await client.multi(ops);
    if (result.ok) return { kind: 'written' };
    if (result.index < guardPaths.length) return { kind: 'guard-lost', index: result.index };
    const i = result.index - guardPaths.length;
    const entry = entries[i];
    if (entry === undefined) throw new BackendStorageError(`zookeeper multi write: error code ${result.code} at op ${result.index}`);
    if (result.code === ZkCode.NODE_EXISTS) writes[i] = { kind: 'set', version: -1 };
    else if (result.code === ZkCode.NO_NODE && writes[i]!.kind === 'set') writes[i] = { kind: 'create' };
    else if (result.code === ZkCode.NO_NODE) await client.mkdirp(parentPath(entry.path));
    else throw new BackendStorageError(`zookeeper write ${entry.path}: error code ${result.code}`);
  }
  throw new BackendUnavailableError(`zookeeper write of ${entries.length} keys: the tree kept changing, gave up after ${attempts} attempts`);
}

// Without guards a plain create or setData does the same as a one-op transaction, cheaper.
async function single(client: ZkClient, write: Write, path: string, data: Buffer): Promise<ZkMultiResult> {
  if (write.kind === 'set') {
    const r = await client.setData(path, data, write.version);
    if (r === 'set') return { ok: true };
    return { ok: false, index: 0, code: r === 'absent' ? ZkCode.NO_NODE : ZkCode.BAD_VERSION };
  }
  const r = await client.create(path, data, 'persistent');
  if ('path' in r) return { ok: true };
  return { ok: false, index: 0, code: r.failed === 'NODE_EXISTS' ? ZkCode.NODE_EXISTS : ZkCode.NO_NODE };
}
