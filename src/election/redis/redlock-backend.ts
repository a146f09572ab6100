import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { BackendStorageError, BackendUnavailableError, type LockdError } from '../../errors.js';
import { noSessionWatch, type Backend, type BackendCommonOptions } from '../backend.js';
import { RowBackend } from '../rows/row-backend.js';
import { checkServerConfig } from './redis-backend.js';
import { redisChangeFeed } from './redis-change-feed.js';
import { RedisKeys } from './redis-keys.js';
import { RedisLink, type RedisConnectOptions } from './redis-link.js';
import { redisReaper } from './redis-reaper.js';
import { REDIS_FORMAT, REDIS_FORMAT_VERSION, REDIS_UPGRADABLE_VERSION, SCRIPTS } from './redis-scripts.js';
import { RedisStore } from './redis-store.js';
import { RedlockMember } from './redlock-member.js';
import { majority } from './redlock-quorum.js';
import { RedlockStore } from './redlock-store.js';

/**
 * Statement connections per primary (besides one each for renewals, the reaper and the
 * subscriber): one, as every operation already goes to every primary.
 */
const STATEMENT_LINKS = 1;

/** What `createRedisBackend` has worked out for every mode. */
export interface RedlockOpenOptions {
  urls: readonly string[];
  common: BackendCommonOptions;
  renewMs: number;
  statementMs: number;
  logger: Logger;
}

/**
 * Opens the Redis backend in Redlock mode: the row core on a `RedlockStore` over independent
 * primaries (3 or 5, validated by the config), each one a `RedisStore` with its own connections,
 * reaper and subscriber, exactly as in single-primary mode. Checks the data format on every
 * primary that answers (a foreign or newer layout on any: `BackendStorageError`) and needs a
 * majority to answer (else `BackendUnavailableError`); warns per primary about weak persistence.
 */
export async function createRedlockBackend(options: RedlockOpenOptions): Promise<Backend> {
  const { urls, common, renewMs, statementMs, logger } = options;
  const keys = new RedisKeys(common.cluster);
  const primaries = urls.map((url, index) => {
    const connect: RedisConnectOptions = {
      target: { kind: 'url', url },
      clientName: `lockd/${common.cluster}/${common.node ?? 'client'}`.replace(/[^\x21-\x7e]/g, '_'),
      connectTimeoutMs: statementMs,
      logger: logger.child({ primary: index }),
    };
    const link = (label: string): RedisLink => new RedisLink(connect, label);
    const statements = Array.from({ length: STATEMENT_LINKS }, (_, i) => link(`statements-${i}`));
    return { index, connect, link, renew: link('renew'), statements, setup: statements[0] as RedisLink };
  });
  // Not through the members' votes: a primary that does not vote yet must still have lockd's layout.
  const formats = await Promise.allSettled(
    primaries.map(async ({ setup, index, connect }) => {
      const answer = String(await setup.script(SCRIPTS.init, [keys.meta], [REDIS_FORMAT, String(REDIS_FORMAT_VERSION), String(REDIS_UPGRADABLE_VERSION), randomUUID()], statementMs, 'check the data format'));
      if (!answer.startsWith('epoch:')) {
        throw new BackendStorageError(`redis redlock: primary ${index}: ${keys.meta} holds ${answer}, not lockd format version ${REDIS_FORMAT_VERSION}; is another program (or a newer lockd) using these keys?`);
      }
      await checkServerConfig(setup, statementMs, connect.logger);
      return answer.slice('epoch:'.length);
    }),
  );
  const failures = formats.flatMap((f) => (f.status === 'rejected' ? [f.reason as LockdError] : []));
  const refused = failures.find((e) => e instanceof BackendStorageError);
  const quorum = majority(urls.length);
  if (refused !== undefined || urls.length - failures.length < quorum) {
    for (const p of primaries) for (const l of [p.renew, ...p.statements]) l.close();
    throw (
      refused ??
      new BackendUnavailableError(`redis redlock: open: ${urls.length - failures.length} of ${urls.length} primaries answered (a majority is ${quorum}): ${failures.map((e) => e.message).join('; ')}`)
    );
  }
  const members = primaries.map(({ index, connect, link, renew, statements }) => {
    const reaper = redisReaper(keys, link('reaper'), { ttlMs: common.ttlMs, pollMs: Math.min(500, common.ttlMs / 4), deadlineMs: renewMs, logger: connect.logger });
    const changes = redisChangeFeed({ connect, channel: keys.channel, logger: connect.logger, deadlineMs: statementMs });
    const format = formats[index];
    // A primary that did not answer at open takes the epoch in force at its first call (`adopt`).
    const epoch = format?.status === 'fulfilled' ? format.value : '';
    const epochs = { epoch, format: REDIS_FORMAT, version: String(REDIS_FORMAT_VERSION), ttlMs: common.ttlMs, logger: connect.logger, onMismatch: 'adopt' as const };
    const store = new RedisStore(keys, { renew, statements }, { renewMs, statementMs }, changes, reaper, epochs);
    reaper.start();
    return new RedlockMember(index, store, [renew, ...statements], keys, common.ttlMs, statementMs, connect.logger);
  });
  logger.debug({ cluster: common.cluster, primaries: urls.length }, 'redis redlock opened');
  return new RowBackend(new RedlockStore(members), { kind: 'redis', ttlMs: common.ttlMs, logger, watch: common.sessionWatch ?? noSessionWatch });
}
