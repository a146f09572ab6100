import { ErrorReply } from 'redis';
import { BackendStorageError, BackendUnavailableError, LockdError } from '../../errors.js';
import { EPOCH_MISMATCH } from './redis-scripts.js';

/** Error reply prefixes after which the same call may succeed later. */
const RETRYABLE_REPLIES = new Set([
  'LOADING', // the server is loading its data set after a restart
  'BUSY', // a script runs beyond busy-reply-threshold
  'TRYAGAIN',
  'CLUSTERDOWN',
  'MASTERDOWN',
  'NOREPLICAS', // min-replicas-to-write not met
]);

/**
 * A script refused to run because the cluster's `meta` holds another epoch than the caller opened,
 * or none (redis-scripts.ts, "Epoch check"): the data the caller knew is gone. Nothing was read or
 * written. Retryable: the store records the loss and repeats the call in the epoch now in force.
 */
export class EpochMismatchError extends BackendUnavailableError {
  constructor(
    /** The epoch the meta holds; '' when the meta is gone. */
    readonly found: string,
    what: string,
  ) {
    super(`redis backend: ${what}: lockd's data in Redis is not the data this process opened (${found === '' ? 'no meta' : `epoch ${found}`}): the server lost it`);
  }
}

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
  if (code === EPOCH_MISMATCH) return new EpochMismatchError(message.slice(EPOCH_MISMATCH.length).trim(), what);
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
