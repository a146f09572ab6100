/**
 * lockd's typed errors. Driver errors (etcd3, node-zookeeper-client, better-sqlite3) are converted
 * into one of these where they enter lockd, once. "A lock is held by someone else" is not an
 * error: `tryAcquire` returns `null`.
 */
export class LockdError extends Error {
  /** Stable machine-readable code, e.g. `CONFIG_INVALID`. */
  readonly code: string;
  /** True when retrying the same call later may succeed. */
  readonly retryable: boolean;

  constructor(code: string, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}

/** One problem found in a config file, with its 1-based position. */
export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  message: string;
}

/** The config file is invalid; `problems` lists every problem found, in file order. */
export class ConfigError extends LockdError {
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super('CONFIG_INVALID', problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

/** `FILE:LINE:COL: message`, the format editors and CI annotate. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

/**
 * Ownership of a lease (leadership or a lock) can no longer be vouched for. `killBy` (CLOCK_MONOTONIC
 * ms, `monotonicMs()`) is when every process run under the lease must be dead: the session's kill
 * deadline when it stopped vouching in time (src/election/fencing-window.ts); absent when the
 * backend reported the lease gone, where another holder may exist already, so "now".
 */
export class LeadershipLostError extends LockdError {
  readonly killBy: number | undefined;

  constructor(message = 'lease lost: ownership can no longer be vouched for', opts: { cause?: unknown; killBy?: number } = {}) {
    super('LEASE_LOST', message, { retryable: true, cause: opts.cause });
    this.killBy = opts.killBy;
  }
}

/** The backend cannot be reached or did not answer in time. */
export class BackendUnavailableError extends LockdError {
  constructor(message: string, cause?: unknown) {
    super('BACKEND_UNAVAILABLE', message, { retryable: true, cause });
  }
}

/** The backend's storage exists but cannot be used (not a lockd database, read-only, ...). */
export class BackendStorageError extends LockdError {
  constructor(message: string, cause?: unknown) {
    super('BACKEND_STORAGE', message, { retryable: false, cause });
  }
}

/** A call was made that the contract forbids (e.g. a second acquire of a name this backend holds). */
/** A lock (or seat) was not acquired within the caller's `wait`; nothing is held. */
export class LockTimeoutError extends LockdError {
  constructor(message: string) {
    super('LOCK_TIMEOUT', message, { retryable: true });
  }
}

export class UsageError extends LockdError {
  constructor(message: string) {
    super('USAGE', message);
  }
}
