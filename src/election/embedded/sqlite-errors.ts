import Database from 'better-sqlite3';
import { BackendStorageError, BackendUnavailableError, LockdError } from '../../errors.js';

/** `5s` for whole seconds, else `250ms`: how the busy timeout is named in messages. */
export function formatTimeout(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Converts a better-sqlite3 error on database `file` into lockd's typed errors, once, where it
 * enters lockd: busy → `BackendUnavailableError` (retryable); read-only, not a database, corrupt,
 * full, I/O → `BackendStorageError`. `LockdError`s pass through; any other error is a bug in lockd
 * and is returned unchanged so that its stack is kept.
 */
export function translateSqliteError(err: unknown, file: string, busyTimeoutMs: number): unknown {
  if (err instanceof LockdError || !(err instanceof Database.SqliteError)) return err;
  const code = err.code;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new BackendUnavailableError(
      `embedded backend: database ${file} busy for more than ${formatTimeout(busyTimeoutMs)}`,
      err,
    );
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new BackendStorageError(`embedded backend: database ${file} is read-only`, err);
  }
  if (code === 'SQLITE_NOTADB') {
    return new BackendStorageError(`embedded backend: ${file} is not a lockd database`, err);
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return new BackendStorageError(`embedded backend: database ${file} is corrupt (${err.message})`, err);
  }
  if (code === 'SQLITE_FULL') {
    return new BackendStorageError(`embedded backend: cannot write ${file}: the disk is full`, err);
  }
  return new BackendStorageError(`embedded backend: cannot use database ${file}: ${err.message} (${code})`, err);
}
