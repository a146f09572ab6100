import type { CandidateInfo } from '../backend.js';
import { UsageError } from '../../errors.js';

/**
 * Key layout of one cluster (DESIGN §3), the same as etcd's `clientv3/concurrency`: the election
 * is `lockd/<cluster>/leader`, lock NAME is `lockd/<cluster>/lock/NAME`, seat set NAME is
 * `lockd/<cluster>/seat/NAME` (apart from the lock of that name), a data key K is
 * `lockd/<cluster>/K`. Each contender's key is `<prefix>/<lease id in lowercase hex>`.
 */
export interface EtcdLayout {
  /** `lockd/<cluster>/`: the root every data key is under. */
  readonly root: string;
  /** `lockd/<cluster>/leader`: what `etcdctl elect -l` is given. */
  readonly election: string;
  /** `lockd/<cluster>/lock`: every lock's keys are under `<locks>/` (a prefix like `election`). */
  readonly locks: string;
  /** `lockd/<cluster>/lock/<name>`: what `etcdctl lock` is given. Throws `UsageError` on an unsafe name. */
  lock(name: string): string;
  /** `lockd/<cluster>/seat`: every seat set's keys are under `<seats>/` (a prefix like `locks`). */
  readonly seats: string;
  /** `lockd/<cluster>/seat/<name>`: the queue of seat set `name`. Throws `UsageError` on an unsafe name. */
  seat(name: string): string;
  /** `lockd/<cluster>/<key>`. Throws `UsageError` for keys inside the election, lock or seat namespaces. */
  data(key: string): string;
  /** The logical key of a full etcd key under `root`. */
  logical(fullKey: string): string;
  /** True for a full key inside the election, lock or seat namespaces (which `list` must not show). */
  isReserved(fullKey: string): boolean;
}

/** The layout for `cluster`. */
export function etcdLayout(cluster: string): EtcdLayout {
  const root = `lockd/${cluster}/`;
  const election = `${root}leader`;
  const locks = `${root}lock/`;
  const seats = `${root}seat/`;
  const isReserved = (fullKey: string): boolean =>
    fullKey === election || fullKey.startsWith(`${election}/`) || fullKey.startsWith(locks) || fullKey.startsWith(seats);
  return {
    root,
    election,
    locks: locks.slice(0, -1),
    lock: (name) => `${locks}${checkName(name, 'lock')}`,
    seats: seats.slice(0, -1),
    seat: (name) => `${seats}${checkName(name, 'seat set')}`,
    data(key) {
      const full = `${root}${key}`;
      if (isReserved(full)) throw new UsageError(`key "${key}" is inside the election, lock or seat namespace`);
      return full;
    },
    logical: (fullKey) => fullKey.slice(root.length),
    isReserved,
  };
}

/** `name`, if it is a safe lock or seat set name; else throws `UsageError`. */
function checkName(name: string, what: string): string {
  // A `/` would nest one queue's keys inside another's prefix, making them contend.
  if (name === '' || name.includes('/')) throw new UsageError(`invalid ${what} name "${name}": must be non-empty without "/"`);
  return name;
}

/**
 * `<prefix>/<lease id in lowercase hex>`, as etcd's concurrency package names a session's key
 * (`fmt.Sprintf("%s/%x", pfx, leaseID)`). `leaseId` is the decimal int64 etcd returns. A seat
 * hold (`hold` not empty: a session may hold several seats of one set) appends `_<hold>`.
 */
export function leaseKey(prefix: string, leaseId: string, hold = ''): string {
  return `${prefix}/${BigInt(leaseId).toString(16)}${hold === '' ? '' : `_${hold}`}`;
}

/** The exclusive end of the key range holding every key that starts with `prefix`. */
export function prefixRangeEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte is 0xff: etcd's "to the end of the keyspace".
  return Buffer.from([0]);
}

/**
 * Reads a candidate's key value. lockd writes JSON of `CandidateInfo`; a foreign value (e.g. from
 * `etcdctl elect NAME PROPOSAL`) is shown as `node` = the raw value. Never throws.
 */
export function parseCandidate(raw: string): CandidateInfo {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed !== null && typeof parsed === 'object' && typeof (parsed as { node?: unknown }).node === 'string') {
      const p = parsed as Partial<Record<keyof CandidateInfo, unknown>>;
      return {
        node: p.node as string,
        host: typeof p.host === 'string' ? p.host : '',
        pid: typeof p.pid === 'number' ? p.pid : 0,
        since: typeof p.since === 'string' ? p.since : '',
      };
    }
  } catch {
    // Not JSON: a foreign client's value, shown as is below.
  }
  return { node: raw, host: '', pid: 0, since: '' };
}
