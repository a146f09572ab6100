import { UsageError } from '../../errors.js';
import { noSessionWatch, type Backend, type BackendCommonOptions } from '../backend.js';
import { RowBackend } from '../rows/row-backend.js';
import { readBootId } from './boot-id.js';
import { openDatabase } from './open-database.js';
import { EmbeddedStore } from './store.js';

/** Knobs for tests and benchmarks; the config file does not expose them. */
export interface EmbeddedTuning {
  /** How long a transaction waits for another process's write lock; default 5000 ms. */
  busyTimeoutMs?: number;
  /** How often waiters and watchers look for changes; default 40 ms. */
  pollIntervalMs?: number;
}

/** The shortest TTL that leaves the heartbeat and the safety margin room to work. */
const MIN_TTL_MS = 500;

/**
 * Opens the embedded backend on the SQLite file `config.path` (relative to the working
 * directory; created if missing): the row core (src/election/rows) on an `EmbeddedStore`. Many
 * processes on one host may share the file; several hosts may not (a network filesystem gets a
 * loud warning). Throws `UsageError` for a TTL below 500 ms, `BackendStorageError` when the
 * directory is missing or read-only, the file is read-only or not a lockd database, and
 * `BackendUnavailableError` when the database stays busy beyond the timeout.
 */
export async function createEmbeddedBackend(
  config: { type: 'embedded'; path: string },
  common: BackendCommonOptions,
  tuning: EmbeddedTuning = {},
): Promise<Backend> {
  if (!(common.ttlMs >= MIN_TTL_MS)) {
    throw new UsageError(`embedded backend: the lease TTL must be at least ${MIN_TTL_MS}ms (got ${common.ttlMs}ms)`);
  }
  const logger = common.logger.child({ component: 'election', backend: 'embedded' });
  const busyTimeoutMs = tuning.busyTimeoutMs ?? 5000;
  const { db, file } = openDatabase(config.path, { busyTimeoutMs, logger });
  const store = new EmbeddedStore(db, file, common.cluster, readBootId(), busyTimeoutMs, tuning.pollIntervalMs ?? 40);
  logger.debug({ path: file, cluster: common.cluster }, 'database opened');
  return new RowBackend(store, { kind: 'embedded', ttlMs: common.ttlMs, logger, watch: common.sessionWatch ?? noSessionWatch });
}
