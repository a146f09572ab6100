import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { RedisSentinelConfig } from '../../config/types.js';
import { parseHostPort } from '../../config/host-port.js';
import { BackendStorageError, LockdError, UsageError } from '../../errors.js';
import { noSessionWatch, type Backend, type BackendCommonOptions } from '../backend.js';
import { renewalIntervalMs } from '../fencing-window.js';
import { RowBackend } from '../rows/row-backend.js';
import { redisChangeFeed } from './redis-change-feed.js';
import { RedisKeys } from './redis-keys.js';
import { RedisLink, type RedisConnectOptions, type RedisTarget, type RedisTls } from './redis-link.js';
import { redisReaper } from './redis-reaper.js';
import { sentinelLocator } from './redis-sentinel.js';
import { REDIS_FORMAT, REDIS_FORMAT_VERSION, REDIS_UPGRADABLE_VERSION, SCRIPTS } from './redis-scripts.js';
import { RedisStore } from './redis-store.js';
import { createRedlockBackend } from './redlock-backend.js';

/** The shortest TTL that leaves renewals, the reaper and the margin room to work on a network. */
const MIN_TTL_MS = 1000;
/** Statement connections per backend (besides one each for renewals, the reaper and the subscriber). */
const STATEMENT_LINKS = 2;
/** `format` of the cluster's meta hash. */

/**
 * The `backend` section for Redis: one primary named by `url` (`redis://[user:password@]host:port[/db]`,
 * or `rediss://` for TLS), the primary that Redis Sentinel names (`sentinel`), or a majority of
 * independent primaries (`redlock`, redlock-backend.ts); exactly one.
 */
export type RedisConfig =
  | { type: 'redis'; url: string; tls?: RedisTlsFiles }
  | { type: 'redis'; sentinel: RedisSentinelConfig }
  | { type: 'redis'; redlock: string[] };

/** `backend.tls` of a `rediss://` url: PEM file paths (CA bundle, client certificate and its key). */
export interface RedisTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * Opens the Redis backend: the row core (src/election/rows) on a `RedisStore`, over one primary
 * (standalone, or found through Sentinel before every connect; 7.0 or later). Keys live under
 * `lockd:{<cluster>}:` (one hash slot); the layout's format and epoch are written on first use and
 * checked on every open, and the epoch by every script after: a restart that lost the data is
 * detected, logged, counted and recorded (`dataLoss`; redis-store.ts). A meta that is missing at
 * open is taken for a new cluster (nothing tells it from a wiped one); a lockd still running on the
 * lost data records the loss in it at its next call. Throws `UsageError` for a TTL below 1 s or a bad sentinel address,
 * `BackendStorageError` for a replica (by `url`), a foreign or newer layout, failed
 * authentication or a missing permission, and `BackendUnavailableError` when the server cannot be
 * reached (or no sentinel names a primary). The URL and password are never logged. With
 * `sentinel.minReplicasAck` > 0 every write waits for that many replicas (redis-replica-ack.ts).
 *
 * Guarantees as PostgreSQL's with `appendonly yes` + `appendfsync always` (a crash loses no
 * acknowledged write); with `everysec` a crash may lose the last second (a run record, so a slot
 * may run twice); without persistence a restart loses everything.
 */
export async function createRedisBackend(config: RedisConfig, common: BackendCommonOptions): Promise<Backend> {
  if (!(common.ttlMs >= MIN_TTL_MS)) {
    throw new UsageError(`redis backend: the lease TTL must be at least ${MIN_TTL_MS}ms (got ${common.ttlMs}ms)`);
  }
  const logger = common.logger.child({ component: 'election', backend: 'redis' });
  const renewMs = Math.round(renewalIntervalMs('redis', common.ttlMs));
  const statementMs = Math.max(renewMs, Math.min(5000, Math.round(common.ttlMs / 2)));
  if ('redlock' in config) return createRedlockBackend({ urls: config.redlock, common, renewMs, statementMs, logger });
  const keys = new RedisKeys(common.cluster);
  const acks = 'sentinel' in config ? config.sentinel.minReplicasAck : 0;
  const connect: RedisConnectOptions = {
    target: redisTarget(config, statementMs, logger),
    ...(acks > 0 ? { replicaAck: { replicas: acks, markerChannel: keys.ackChannel } } : {}),
    clientName: `lockd/${common.cluster}/${common.node ?? 'client'}`.replace(/[^\x21-\x7e]/g, '_'),
    connectTimeoutMs: statementMs,
    logger,
  };
  const link = (label: string): RedisLink => new RedisLink(connect, label);
  const setup = link('setup');
  let epoch: string;
  try {
    const answer = String(await setup.script(SCRIPTS.init, [keys.meta], [REDIS_FORMAT, String(REDIS_FORMAT_VERSION), String(REDIS_UPGRADABLE_VERSION), randomUUID()], statementMs, 'check the data format'));
    if (!answer.startsWith('epoch:')) {
      throw new BackendStorageError(
        `redis backend: ${keys.meta} holds ${answer}, not lockd format version ${REDIS_FORMAT_VERSION}; is another program (or a newer lockd) using these keys?`,
      );
    }
    epoch = answer.slice('epoch:'.length);
    await checkServerConfig(setup, statementMs, logger);
  } finally {
    setup.close();
  }
  const reaper = redisReaper(keys, link('reaper'), { ttlMs: common.ttlMs, pollMs: Math.min(500, common.ttlMs / 4), deadlineMs: renewMs, logger });
  const changes = redisChangeFeed({ connect, channel: keys.channel, logger, deadlineMs: statementMs });
  const statements = Array.from({ length: STATEMENT_LINKS }, (_, i) => link(`statements-${i}`));
  const epochs = { epoch, format: REDIS_FORMAT, version: String(REDIS_FORMAT_VERSION), ttlMs: common.ttlMs, logger, onMismatch: 'record' as const };
  const store = new RedisStore(keys, { renew: link('renew'), statements }, { renewMs, statementMs }, changes, reaper, epochs);
  reaper.start();
  logger.debug({ cluster: common.cluster, epoch }, 'redis opened');
  return new RowBackend(store, { kind: 'redis', ttlMs: common.ttlMs, logger, watch: common.sessionWatch ?? noSessionWatch });
}

/** The URL, or a lookup of the primary through the sentinels (each asked within `timeoutMs`). */
function redisTarget(config: Exclude<RedisConfig, { redlock: string[] }>, timeoutMs: number, logger: Logger): RedisTarget {
  if (!('sentinel' in config)) return { kind: 'url', url: config.url, ...(config.tls === undefined ? {} : { tls: readTlsFiles(config.tls) }) };
  const { master, nodes, username, password } = config.sentinel;
  if (nodes.length === 0) throw new UsageError('redis backend: sentinel.nodes is empty');
  const addresses = nodes.map((node) => {
    try {
      return parseHostPort(node);
    } catch (err) {
      if (err instanceof LockdError) throw new UsageError(`redis backend: sentinel.nodes: ${err.message}`);
      throw err;
    }
  });
  return {
    kind: 'sentinel',
    // Each sentinel gets a share of the connect budget, leaving one for the primary itself.
    locate: sentinelLocator({ master, nodes: addresses, connectTimeoutMs: Math.max(200, Math.round(timeoutMs / (addresses.length + 1))), logger }),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}

/**
 * The PEM contents of `backend.tls`, read once at open (a renewed certificate is picked up by the
 * next start). Throws `BackendStorageError` naming the config key and the file when one cannot be read.
 */
function readTlsFiles(tls: RedisTlsFiles): RedisTls {
  const read = (key: keyof RedisTlsFiles): string | undefined => {
    const file = tls[key];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new BackendStorageError(`redis backend: cannot read backend.tls.${key} (${file}): ${(err as Error).message}`, err);
    }
  };
  const ca = read('ca');
  const cert = read('cert');
  const key = read('key');
  return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) };
}

/**
 * Refuses a server that may evict lockd's keys (`maxmemory-policy allkeys-*`: lockd sets no key
 * TTLs, so `volatile-*` and `noeviction` never touch them), and warns when a crash may lose
 * acknowledged writes (`appendonly no`, or `appendfsync` other than `always`). Skipped, with a
 * debug line, where CONFIG is disabled (managed services rename or forbid it).
 */
export async function checkServerConfig(link: RedisLink, deadlineMs: number, logger: Logger): Promise<void> {
  let settings: Map<string, string>;
  try {
    const flat = await link.call(['CONFIG', 'GET', 'maxmemory-policy', 'appendonly', 'appendfsync'], deadlineMs, 'read the server settings');
    const fields = Array.isArray(flat) ? (flat as unknown[]).map(String) : [];
    settings = new Map(fields.flatMap((f, i) => (i % 2 === 0 ? [[f, fields[i + 1] ?? ''] as [string, string]] : [])));
  } catch (err) {
    if (!(err instanceof BackendStorageError)) throw err;
    logger.debug({ err: err.message }, 'CONFIG GET refused; the eviction policy and persistence are not checked');
    return;
  }
  const policy = settings.get('maxmemory-policy') ?? '';
  if (policy.startsWith('allkeys-')) {
    throw new BackendStorageError(
      `redis backend: the server may evict any key (maxmemory-policy ${policy}), lockd's leases and run records among them; use noeviction or a volatile-* policy`,
    );
  }
  const appendonly = settings.get('appendonly');
  const appendfsync = settings.get('appendfsync');
  if (appendonly !== undefined && (appendonly !== 'yes' || appendfsync !== 'always')) {
    logger.warn(
      { appendonly, appendfsync },
      'redis: a crash of the server may lose acknowledged writes (a run record: that slot may run twice); set appendonly yes and appendfsync always',
    );
  }
}
