import { ErrorReply } from 'redis';
import { BackendStorageError, BackendUnavailableError, LockdError } from '../../errors.js';

/** Error reply prefixes after which the same call may succeed later. */
const RETRYABLE_REPLIES = new Set([
  'LOADING', // the server is loading its data set after a restart
  'BUSY', // a script runs beyond busy-reply-threshold
  'TRYAGAIN',
  'CLUSTERDOWN',
  'MASTERDOWN',
  'NOREPLICAS', // min-replicas-to-write not met
]);

/** A server's error reply (node-redis `ErrorReply`), as opposed to a transport failure. */
function isErrorReply(err: unknown): boolean {
  return err instanceof ErrorReply;
}

/**
 * Converts a node-redis error into lockd's typed errors, once, where it enters lockd: transport
 * failures (refused, closed, timed out, offline) and the transient replies (LOADING, BUSY, …) →
 * `BackendUnavailableError` (retryable; for a write the outcome may be unknown); READONLY (a
 * replica), failed authentication (NOAUTH, WRONGPASS), missing permissions (NOPERM) and any
 * other error reply → `BackendStorageError`. `what` names the call. Messages never contain the
 * URL (it may carry a password). `LockdError`s pass through. With `viaSentinel`, READONLY is
 * `BackendUnavailableError` instead: the primary was demoted, and the sentinels name the next.
 */
export function translateRedisError(err: unknown, what: string, viaSentinel = false): LockdError {
  if (err instanceof LockdError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (!isErrorReply(err)) return new BackendUnavailableError(`redis backend: ${what}: ${message}`, err);
  const code = /^[A-Z]+/.exec(message)?.[0] ?? '';
  if (RETRYABLE_REPLIES.has(code)) return new BackendUnavailableError(`redis backend: ${what}: ${message}`, err);
  if (code === 'READONLY') {
    if (viaSentinel) return new BackendUnavailableError(`redis backend: ${what}: the server was demoted to a replica (a failover); finding the new primary`, err);
    return new BackendStorageError(`redis backend: ${what}: the server is a read-only replica; point backend.url at the primary`, err);
  }
  if (code === 'NOAUTH' || code === 'WRONGPASS') return new BackendStorageError(`redis backend: ${what}: authentication failed (${message})`, err);
  if (code === 'NOPERM') return new BackendStorageError(`redis backend: ${what}: permission denied (${message})`, err);
  return new BackendStorageError(`redis backend: ${what}: ${message}`, err);
}

/**
 * Whether an error leaves the connection usable: a server's error reply does, except READONLY
 * (the server is a replica now: the next connect must find the primary); nothing else does.
 */
export function keepsConnection(err: unknown): boolean {
  return isErrorReply(err) && !(err as Error).message.startsWith('READONLY');
}
