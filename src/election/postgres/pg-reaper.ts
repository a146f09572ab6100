import type { Logger } from 'pino';
import { SilenceReaper } from '../rows/silence-reaper.js';
import type { PgLink } from './pg-link.js';

/**
 * The PostgreSQL session reaper: a `SilenceReaper` that reads every session's renewal count of
 * `cluster` on `link` and reaps with the schema's `reap` function, which deletes the session (and
 * by cascade its holder rows) only if its count is unchanged and the server's clock says it
 * expired or went back since its last renewal, and notifies.
 */
export function pgReaper(schema: string, cluster: string, link: PgLink, opts: { ttlMs: number; pollMs: number; deadlineMs: number; logger: Logger }): SilenceReaper {
  const s = `"${schema}"`;
  return new SilenceReaper({
    ttlMs: opts.ttlMs,
    pollMs: opts.pollMs,
    logger: opts.logger,
    sessions: async () => {
      const rows = await link.query<{ id: string; renewals: string }>(
        `SELECT id::text AS id, renewals::text AS renewals FROM ${s}.sessions WHERE cluster = $1`,
        [cluster],
        opts.deadlineMs,
        'watch sessions',
      );
      return { sessions: rows.map((r) => ({ id: r.id, renewals: BigInt(r.renewals) })), generation: link.generation };
    },
    reap: async ({ id, renewals }) => {
      const [row] = await link.query<{ reaped: boolean }>(`SELECT ${s}.reap($1, $2, $3) AS reaped`, [cluster, id, String(renewals)], opts.deadlineMs, 'reap a session');
      return row?.reaped === true;
    },
    close: () => link.close(),
  });
}
