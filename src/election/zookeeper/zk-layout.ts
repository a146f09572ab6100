import { UsageError } from '../../errors.js';

/** A ZooKeeper connect string split into the server list and the optional chroot. */
export interface ParsedConnect {
  /** `host1:2181,host2:2181`, handed to the client library as is. */
  hosts: string;
  /** `/apps` for `host:2181/apps`; `''` when there is none. */
  chroot: string;
}

/**
 * Splits `host1:2181,host2:2181/apps` into hosts and chroot. lockd applies the chroot itself
 * (every path is prefixed) instead of leaving it to the client library, so that the chroot node
 * is created along with lockd's own parents rather than failing every call when it is missing.
 * Throws `UsageError` for an empty host list or a malformed chroot.
 */
export function parseConnectString(connect: string): ParsedConnect {
  const slash = connect.indexOf('/');
  const hosts = (slash === -1 ? connect : connect.slice(0, slash)).trim();
  let chroot = slash === -1 ? '' : connect.slice(slash);
  if (chroot.endsWith('/')) chroot = chroot.slice(0, -1);
  if (hosts === '' || hosts.split(',').some((h) => h.trim() === '')) {
    throw new UsageError(`zookeeper connect string "${connect}" names no server`);
  }
  if (chroot !== '') assertSegments(chroot.slice(1), `chroot of "${connect}"`);
  return { hosts, chroot };
}

/**
 * Where lockd keeps a cluster's nodes (DESIGN §3): the Curator LeaderLatch directory
 * `/lockd/<cluster>/leader`, InterProcessMutex directories `/lockd/<cluster>/locks/<name>`,
 * InterProcessSemaphoreV2 paths `/lockd/<cluster>/seats/<name>` for seat sets, and data keys as
 * persistent nodes `/lockd/<cluster>/<key>`, all below the chroot.
 */
export class ZkLayout {
  /** `<chroot>/lockd/<cluster>`. */
  readonly base: string;
  readonly leaderDir: string;
  /**
   * The nodes above `base` (each chroot level and `<chroot>/lockd`), which other clusters and
   * applications share: they must not be created with one cluster's credentials-only ACL.
   */
  readonly sharedAncestors: readonly string[];
  /** `/lockd/<cluster>/locks`: every lock's directory is in it. */
  readonly locksDir: string;
  /** `/lockd/<cluster>/seats`: every seat set's semaphore path is in it. */
  readonly seatsDir: string;

  constructor(chroot: string, cluster: string) {
    assertSegments(cluster, 'cluster name');
    if (cluster.includes('/')) throw new UsageError(`cluster name "${cluster}" must not contain "/"`);
    this.base = `${chroot}/lockd/${cluster}`;
    this.leaderDir = `${this.base}/leader`;
    this.locksDir = `${this.base}/locks`;
    this.seatsDir = `${this.base}/seats`;
    const levels = `${chroot}/lockd`.split('/').slice(1);
    this.sharedAncestors = levels.map((_, i) => `/${levels.slice(0, i + 1).join('/')}`);
  }

  /** Directory of lock `name`. Throws `UsageError` for an empty name or one with `/`. */
  lockDir(name: string): string {
    // A `/` would nest one lock's queue inside another's directory.
    if (name.includes('/')) throw new UsageError(`invalid lock name "${name}": must not contain "/"`);
    assertSegments(name, 'lock name');
    return `${this.locksDir}/${name}`;
  }

  /** Semaphore path of seat set `name`. Throws `UsageError` for an empty name or one with `/`. */
  seatDir(name: string): string {
    if (name.includes('/')) throw new UsageError(`invalid seat set name "${name}": must not contain "/"`);
    assertSegments(name, 'seat set name');
    return `${this.seatsDir}/${name}`;
  }

  /**
   * Node of data key `key` (e.g. `runs/backup/1700000000000`). Throws `UsageError` for a bad key
   * or one inside the election, lock or seat directories.
   */
  dataPath(key: string): string {
    assertSegments(key, 'key');
    const path = `${this.base}/${key}`;
    if (this.isReserved(path)) throw new UsageError(`key "${key}" is inside the election, lock or seat namespace`);
    return path;
  }

  /** True for the election, lock and seat directories and anything below them (never data keys). */
  isReserved(path: string): boolean {
    return [this.leaderDir, this.locksDir, this.seatsDir].some((dir) => path === dir || path.startsWith(`${dir}/`));
  }

  /**
   * The node whose children `list(prefix)` reads, and the start every listed child's name must
   * have: `runs/job/` lists all children of `.../runs/job`; `runs/jo` lists the children of
   * `.../runs` whose names start with `jo`. Throws `UsageError` for a malformed prefix.
   */
  listTarget(prefix: string): { dir: string; childPrefix: string; keyPrefix: string } {
    const cut = prefix.lastIndexOf('/');
    const dirKey = cut === -1 ? '' : prefix.slice(0, cut);
    if (dirKey !== '') assertSegments(dirKey, 'key prefix');
    return {
      dir: dirKey === '' ? this.base : `${this.base}/${dirKey}`,
      childPrefix: prefix.slice(cut + 1),
      keyPrefix: dirKey === '' ? '' : `${dirKey}/`,
    };
  }
}

/** The parent of a node path (`/a/b` -> `/a`); `/` has none. */
export function parentPath(path: string): string {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/** The last segment of a node path. */
export function nodeName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function assertSegments(value: string, what: string): void {
  const segments = value.split('/');
  const bad = segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\u0000'));
  if (bad) throw new UsageError(`invalid ${what} "${value}": empty, "." and ".." segments are not allowed`);
}
