import type Database from 'better-sqlite3';
import { BackendStorageError } from '../../errors.js';

/** The schema this code reads and writes; a database with another version is refused. */
export const SCHEMA_VERSION = 1;

/** The marker row's value in `meta.format`: what makes a file a lockd database. */
const FORMAT_MARKER = 'lockd';

const DDL = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value NOT NULL
);
-- One row per open Backend. expires is CLOCK_MONOTONIC ms of boot boot_id; a row past it, or of
-- another boot, is dead and is reaped (with its holders) by the next write transaction.
CREATE TABLE sessions (
  id      TEXT PRIMARY KEY,
  boot_id TEXT NOT NULL,
  expires INTEGER NOT NULL,
  info    TEXT NOT NULL
);
-- One row per candidate or lock waiter; the holder of (cluster, name) is its live row with the
-- lowest token. token comes from meta.revision, advanced in the inserting transaction.
CREATE TABLE holders (
  token   INTEGER PRIMARY KEY,
  cluster TEXT NOT NULL,
  name    TEXT NOT NULL,
  session TEXT NOT NULL,
  info    TEXT,
  created TEXT NOT NULL
);
CREATE INDEX holders_by_name ON holders (cluster, name, token);
CREATE INDEX holders_by_session ON holders (session);
-- rev is meta.revision at the last write, so a watcher can tell that a prefix changed.
CREATE TABLE kv (
  cluster TEXT NOT NULL,
  key     TEXT NOT NULL,
  value   TEXT NOT NULL,
  rev     INTEGER NOT NULL,
  PRIMARY KEY (cluster, key)
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('format', '${FORMAT_MARKER}'), ('schema_version', ${SCHEMA_VERSION}), ('revision', 0);
`;

/**
 * What `file` holds: `'empty'` (a new or zero-length SQLite file) or `'lockd'` (our schema).
 * Only reads, so a foreign database is never modified. Throws `BackendStorageError` when the file
 * is an SQLite database without the lockd marker, or one of another schema version; a file that
 * is not SQLite at all makes the driver throw SQLITE_NOTADB, which the caller translates.
 */
export function inspectSchema(db: Database.Database, file: string): 'empty' | 'lockd' {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
  if (tables.length === 0) return 'empty';
  const notLockd = (why: string): BackendStorageError =>
    new BackendStorageError(`embedded backend: ${file} is not a lockd database (${why})`);
  if (!tables.includes('meta')) throw notLockd(`an SQLite database with tables ${tables.join(', ')} and no lockd marker`);
  const meta = new Map(
    (db.prepare("SELECT key, value FROM meta WHERE key IN ('format', 'schema_version')").all() as { key: string; value: unknown }[])
      .map((row) => [row.key, row.value]),
  );
  if (meta.get('format') !== FORMAT_MARKER) throw notLockd('its meta table has no lockd marker');
  const version = meta.get('schema_version');
  if (version !== SCHEMA_VERSION) {
    throw new BackendStorageError(
      `embedded backend: ${file} has lockd schema version ${String(version)}; this lockd reads version ${SCHEMA_VERSION}`,
    );
  }
  return 'lockd';
}

/**
 * Creates the schema if the database is still empty, in one `BEGIN IMMEDIATE` transaction that
 * looks again, since another process may have created it in between. Throws as `inspectSchema`,
 * or the driver's error (e.g. SQLITE_BUSY) for the caller to translate.
 */
export function createSchemaIfEmpty(db: Database.Database, file: string): void {
  db.transaction(() => {
    if (inspectSchema(db, file) === 'empty') db.exec(DDL);
  }).immediate();
}
