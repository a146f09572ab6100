import type { Logger } from 'pino';
import { SilenceReaper } from '../rows/silence-reaper.js';
import type { RedisKeys } from './redis-keys.js';
import type { RedisLink } from './redis-link.js';
import { SCRIPTS } from './redis-scripts.js';

/**
 * The Redis session reaper: a `SilenceReaper` that reads every session's renewal count
 * (`HGETALL ren`) on `link` and reaps with the `reap` script, which deletes the session only if
 * its count is unchanged and the server's `TIME` is past its expiry (or before its last renewal:
 * the clock went back), and publishes the change
 * (its queue entries are dead from then on; see redis-scripts.ts).
 */
export function redisReaper(keys: RedisKeys, link: RedisLink, opts: { ttlMs: number; pollMs: number; deadlineMs: number; logger: Logger }): SilenceReaper {
  return new SilenceReaper({
    ttlMs: opts.ttlMs,
    pollMs: opts.pollMs,
    logger: opts.logger,
    sessions: async () => {
      const flat = await link.call(['HGETALL', keys.ren], opts.deadlineMs, 'watch sessions');
      const fields = Array.isArray(flat) ? (flat as unknown[]).map(String) : [];
      const sessions = [];
      for (let i = 0; i + 1 < fields.length; i += 2) sessions.push({ id: fields[i] as string, renewals: BigInt(fields[i + 1] as string) });
      return { sessions, generation: link.generation };
    },
    reap: async ({ id, renewals }) =>
      (await link.script(SCRIPTS.reap, [keys.sess, keys.ren, keys.exp, keys.rtime], [id, String(renewals), keys.channel], opts.deadlineMs, 'reap a session')) === 1,
    close: () => link.close(),
  });
}
