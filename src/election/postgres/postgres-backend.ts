import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { BackendStorageError, UsageError } from '../../errors.js';
import { noSessionWatch, type Backend, type BackendCommonOptions } from '../backend.js';
import { fencingWindow, renewalIntervalMs } from '../fencing-window.js';
import { RowBackend } from '../rows/row-backend.js';
import { PgAdvisoryLocks } from './pg-advisory.js';
import { pgChangeFeed } from './pg-change-feed.js';
import { PgLink } from './pg-link.js';
import { migrate } from './pg-migrate.js';
import { checkSessionPath } from './pg-session-check.js';
import { pgReaper } from './pg-reaper.js';
import { changeChannel } from './pg-schema.js';
import { PgStore } from './pg-store.js';

/** The shortest TTL that leaves renewals, the reaper and the margin room to work on a network. */
const MIN_TTL_MS = 1000;
/** Statement connections per backend (besides one each for renewals, the reaper, LISTEN and advisory locks). */
const STATEMENT_LINKS = 3;

/** The `backend` section for PostgreSQL. */
export interface PostgresConfig {
  type: 'postgres';
  url: string;
  schema: string;
  tls?: { ca?: string; cert?: string; key?: string };
}

/**
 * Opens the PostgreSQL backend: the row core (src/election/rows) on a `PgStore`, with the schema
 * created or checked (pg-migrate.ts). Connections carry `application_name=lockd/<cluster>/<node>`
 * and server-side statement and lock timeouts below the fencing margin. Throws `UsageError` for a
 * TTL below 1 s, `BackendStorageError` for a standby, a pooler in transaction mode, a foreign or
 * newer schema, failed authentication or a missing permission, and `BackendUnavailableError` when the server cannot
 * be reached. The URL (it may carry a password) is never logged.
 */
export async function createPostgresBackend(config: PostgresConfig, common: BackendCommonOptions): Promise<Backend> {
  if (!(common.ttlMs >= MIN_TTL_MS)) {
    throw new UsageError(`postgres backend: the lease TTL must be at least ${MIN_TTL_MS}ms (got ${common.ttlMs}ms)`);
  }
  const logger = common.logger.child({ component: 'election', backend: 'postgres' });
  const { marginMs } = fencingWindow('postgres', common.ttlMs);
  const renewMs = Math.round(renewalIntervalMs('postgres', common.ttlMs));
  const statementMs = Math.max(renewMs, Math.min(5000, Math.round(common.ttlMs / 2)));
  const client: pg.ClientConfig = {
    connectionString: config.url,
    application_name: `lockd/${common.cluster}/${common.node ?? 'client'}`.slice(0, 63),
    connectionTimeoutMillis: statementMs,
    keepAlive: true,
    ...(config.tls && { ssl: tlsOptions(config.tls) }),
  };
  // Below the margin, so that the server gives up a stuck statement (and its row locks) well
  // before a lease that waits on it could run out.
  const timeouts = { statementMs: Math.round(marginMs / 2), lockMs: Math.round(marginMs / 4), idleInTransactionMs: common.ttlMs };
  const link = (label: string): PgLink => new PgLink({ client, timeouts, logger }, label);
  const setup = [link('setup'), link('setup-check')] as const;
  try {
    await checkSessionPath(setup[0], setup[1], statementMs);
    await migrate(setup[0], config.schema, common.cluster, statementMs);
  } finally {
    for (const l of setup) l.close();
  }
  const reaper = pgReaper(config.schema, common.cluster, link('reaper'), { ttlMs: common.ttlMs, pollMs: Math.min(500, common.ttlMs / 4), deadlineMs: renewMs, logger });
  const changes = pgChangeFeed({ client, timeouts, channel: changeChannel(config.schema), cluster: common.cluster, logger, deadlineMs: statementMs });
  const statements = Array.from({ length: STATEMENT_LINKS }, (_, i) => link(`statements-${i}`));
  const advisory = new PgAdvisoryLocks({ client, timeouts, logger }, statementMs, logger);
  const store = new PgStore(config.schema, common.cluster, { renew: link('renew'), statements }, { renewMs, statementMs }, changes, reaper, advisory);
  reaper.start();
  logger.debug({ schema: config.schema, cluster: common.cluster }, 'database opened');
  return new RowBackend(store, { kind: 'postgres', ttlMs: common.ttlMs, logger, watch: common.sessionWatch ?? noSessionWatch });
}

/** The `ssl` option of `pg` from the PEM files of `backend.tls`; certificates are always verified. */
function tlsOptions(tls: { ca?: string; cert?: string; key?: string }): pg.ClientConfig['ssl'] {
  const read = (file: string | undefined, what: string): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new BackendStorageError(`postgres backend: cannot read the TLS ${what} ${file}: ${(err as Error).message}`, err);
    }
  };
  const ca = read(tls.ca, 'CA bundle');
  const cert = read(tls.cert, 'certificate');
  const key = read(tls.key, 'key');
  return { rejectUnauthorized: true, ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }) };
}
