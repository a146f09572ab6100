import { BackendStorageError, BackendUnavailableError, LockdError } from '../../errors.js';

/** SQLSTATE classes and codes after which the same call may succeed later. */
const RETRYABLE_CODES = new Set([
  '57014', // query_canceled (statement_timeout)
  '55P03', // lock_not_available (lock_timeout)
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '53300', // too_many_connections
]);

/**
 * Converts a `pg` error into lockd's typed errors, once, where it enters lockd: timeouts, lost
 * connections, shutdowns and lock conflicts → `BackendUnavailableError` (retryable; for a write
 * the outcome may be unknown); a standby (read-only transaction), failed authentication, a
 * missing permission or object → `BackendStorageError`. `what` names the call. Messages never
 * contain the URL (it may carry a password). `LockdError`s pass through.
 */
export function translatePgError(err: unknown, what: string): LockdError {
  if (err instanceof LockdError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  if (code === '25006') {
    return new BackendStorageError(`postgres backend: ${what}: the server is a read-only hot standby; point backend.url at the primary`, err);
  }
  if (code.startsWith('28')) return new BackendStorageError(`postgres backend: ${what}: authentication failed (${message})`, err);
  if (code === '42501') return new BackendStorageError(`postgres backend: ${what}: permission denied (${message})`, err);
  if (code === '3D000') return new BackendStorageError(`postgres backend: ${what}: ${message}`, err);
  if (RETRYABLE_CODES.has(code) || code.startsWith('08') || code === '' || code.startsWith('E')) {
    return new BackendUnavailableError(`postgres backend: ${what}: ${message}`, err);
  }
  return new BackendStorageError(`postgres backend: ${what}: ${message} (SQLSTATE ${code})`, err);
}
