import {
  castGrpcError,
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  EtcdRoleNotGrantedError,
  EtcdUserNotFoundError,
  isRecoverableError,
} from 'etcd3';
import { BackendStorageError, BackendUnavailableError, LeadershipLostError, LockdError } from '../../errors.js';

/**
 * What a failed attempt of an etcd call says about the request:
 * - `unsent`: it was not applied and never will be — no connection to the member (refused, not
 *   yet established, channel closed before the call started), or the member refused it before
 *   proposing it (no leader, too many requests, proposal dropped).
 * - `ambiguous`: it may have been applied, or may still be — a deadline on a frozen or slow
 *   member, a connection dropped after sending, etcd's own "request timed out".
 * - `final`: etcd answered, and asking another member would get the same answer (lease not
 *   found, permission denied, invalid request); or the client was closed.
 */
export type FailureKind = 'unsent' | 'ambiguous' | 'final';

// grpc-js and etcd messages for requests that provably never reached raft.
const NOT_APPLIED =
  /No connection established|Channel closed before call started|etcdserver: no leader|etcdserver: too many requests|raft proposal dropped|etcdserver: not capable/;

/** Classifies an etcd3 or grpc error; see `FailureKind`. */
export function classifyFailure(err: unknown): FailureKind {
  if (!(err instanceof Error)) return 'final';
  const cast = castGrpcError(err);
  if (!isRecoverableError(cast)) return 'final';
  return NOT_APPLIED.test(cast.message) ? 'unsent' : 'ambiguous';
}

/**
 * Converts an etcd3/grpc error into lockd's typed errors: lease not found →
 * `LeadershipLostError`, auth/permission → `BackendStorageError`, anything else →
 * `BackendUnavailableError`.
 */
export function toLockdError(err: unknown, what: string): LockdError {
  if (err instanceof LockdError) return err;
  const cast = err instanceof Error ? castGrpcError(err) : err;
  const message = cast instanceof Error ? cast.message : String(cast);
  if (cast instanceof EtcdLeaseInvalidError) return new LeadershipLostError(`etcd ${what}: lease not found`, { cause: cast });
  if (
    cast instanceof EtcdAuthenticationFailedError ||
    cast instanceof EtcdPermissionDeniedError ||
    cast instanceof EtcdRoleNotGrantedError ||
    cast instanceof EtcdUserNotFoundError
  ) {
    return new BackendStorageError(`etcd ${what}: ${message}`, cast);
  }
  return new BackendUnavailableError(`etcd ${what} failed: ${message}`, cast);
}
