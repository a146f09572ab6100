/**
 * lockd as a library: `connect()` to a cluster, then locks with fencing tokens (`acquire`,
 * `withLock`), ordered multi-locks (`withLocks`), seats (`acquireSeat`, `withSeat`: counting
 * semaphores; embedded, PostgreSQL and Redis) and leadership (`campaign`). Everything exported
 * here is the public API; the rest of the package is internal.
 */
export { connect, Lockd, type Held, type HeldLocks, type WaitOptions } from './library/lockd.js';
export type { BackendOptions, ConnectOptions, TlsOptions } from './library/connect-options.js';
export type { FencingToken } from './election/backend.js';
export {
  BackendStorageError,
  BackendUnavailableError,
  ConfigError,
  LeadershipLostError,
  LockdError,
  LockTimeoutError,
  UsageError,
  type ConfigProblem,
} from './errors.js';
