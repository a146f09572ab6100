import { accessSync, constants, statSync, statfsSync, type Stats } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { BackendStorageError } from '../../errors.js';
import { createSchemaIfEmpty, inspectSchema } from './schema.js';
import { translateSqliteError } from './sqlite-errors.js';

/** statfs f_type values of filesystems whose locks do not span hosts reliably (linux/magic.h). */
const NETWORK_FILESYSTEMS = new Map<number, string>([
  [0x6969, 'NFS'],
  [0x517b, 'SMB'],
  [0xff534d42, 'CIFS'],
  [0xfe534d42, 'SMB2'],
  [0x65735546, 'FUSE'],
  [0x01021997, '9p'],
  [0x00c36400, 'CephFS'],
  [0x5346414f, 'AFS'],
  [0x01161970, 'GFS2'],
  [0x7461636f, 'OCFS2'],
  [0x0bd00bd0, 'Lustre'],
]);

/** The name of the network (or FUSE) filesystem with statfs type `type`, or undefined for a local one. */
export function networkFilesystemName(type: number): string | undefined {
  return NETWORK_FILESYSTEMS.get(type >>> 0);
}

/** An open, verified lockd database and where it lives. */
export interface OpenedDatabase {
  db: Database.Database;
  /** Absolute path of the database file. */
  file: string;
}

/**
 * Opens (creating if needed) the lockd database at `path` (relative to the working directory):
 * WAL mode, synchronous=FULL, busy timeout `busyTimeoutMs`, schema created or verified. Warns on
 * `logger` when the file is on a network filesystem. Throws `BackendStorageError` when the
 * directory is missing or read-only, the file is read-only or not a lockd database, and
 * `BackendUnavailableError` when the database stays busy beyond the timeout; never a driver error.
 */
export function openDatabase(path: string, opts: { busyTimeoutMs: number; logger: Logger }): OpenedDatabase {
  const file = resolve(path);
  checkLocation(file);
  warnIfNetworkFilesystem(file, opts.logger);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: opts.busyTimeoutMs });
    // Inspect before switching to WAL, so that a foreign database is refused without being changed.
    const found = inspectSchema(db, file);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') {
      throw new BackendStorageError(`embedded backend: cannot put ${file} in WAL mode (journal mode stays ${String(mode)})`);
    }
    // FULL: a commit that a power loss rolls back could be a run record whose job already ran.
    db.pragma('synchronous = FULL');
    if (found === 'empty') createSchemaIfEmpty(db, file);
    return { db, file };
  } catch (err) {
    db?.close();
    throw translateSqliteError(err, file, opts.busyTimeoutMs);
  }
}

function checkLocation(file: string): void {
  const dir = dirname(file);
  const dirStats = statOrUndefined(dir);
  if (dirStats === undefined) {
    throw new BackendStorageError(`embedded backend: directory ${dir} does not exist (path: ${file})`);
  }
  if (!dirStats.isDirectory()) {
    throw new BackendStorageError(`embedded backend: ${dir} is not a directory (path: ${file})`);
  }
  if (isReadOnly(dir, dirStats)) {
    const base = basename(file);
    throw new BackendStorageError(
      `embedded backend: directory ${dir} is read-only; lockd must create ${base}, ${base}-wal and ${base}-shm in it (path: ${file})`,
    );
  }
  const fileStats = statOrUndefined(file);
  if (fileStats === undefined) return;
  if (!fileStats.isFile()) throw new BackendStorageError(`embedded backend: ${file} is not a regular file`);
  if (isReadOnly(file, fileStats)) throw new BackendStorageError(`embedded backend: database ${file} is read-only`);
}

/**
 * Root passes access(W_OK) whatever the mode bits say, so a file or directory with no write bit
 * at all counts as read-only too: an operator who removed every write bit meant it, and lockd
 * would otherwise write to it silently when run as root. access() still catches a read-only mount
 * (EROFS, even for root) and, for other users, missing permission.
 */
function isReadOnly(path: string, stats: Stats): boolean {
  if ((stats.mode & 0o222) === 0) return true;
  try {
    accessSync(path, constants.W_OK);
    return false;
  } catch {
    return true;
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'EACCES' ? 'permission denied' : code;
    throw new BackendStorageError(`embedded backend: cannot access ${path} (${why})`, err);
  }
}

function warnIfNetworkFilesystem(file: string, logger: Logger): void {
  const fs = networkFilesystemName(statfsSync(dirname(file)).type);
  if (fs === undefined) return;
  logger.warn(
    { path: file, filesystem: fs },
    `embedded backend: ${file} is on a ${fs} filesystem. SQLite locks do not work across hosts: run every lockd ` +
      'that uses this file on ONE host, or use the etcd or ZooKeeper backend',
  );
}
