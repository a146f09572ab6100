import { randomUUID } from 'node:crypto';
import { BackendStorageError } from '../../errors.js';
import type { PgLink } from './pg-link.js';

/** The message of a connection that does not keep its server session. */
export const POOLED_MESSAGE =
  'postgres backend: statements on one connection reach different server sessions (PgBouncer in transaction or statement mode?); lockd needs session pooling or a direct connection';

/**
 * Refuses a connection path that does not keep one server session per client connection (a
 * pooler in transaction or statement mode), where LISTEN, session advisory locks and the
 * session checks lockd relies on silently stop working. Two connections each mark their session
 * (`set_config(..., false)`), then the first reads its mark and server pid back: a pooler that
 * shares one server connection between them shows the other's mark, one that switched server
 * connections another pid. Renewals keep checking the pid (see `PgStore.renewSession`), which
 * catches a pooler that happened to hand the same server connection back here. Throws
 * `BackendStorageError`.
 */
export async function checkSessionPath(first: PgLink, second: PgLink, deadlineMs: number): Promise<void> {
  const mark = (link: PgLink, value: string): Promise<unknown> =>
    link.query("SELECT set_config('lockd.session_mark', $1, false)", [value], deadlineMs, 'session check');
  const mine = randomUUID();
  await mark(first, mine);
  await mark(second, randomUUID());
  const [row] = await first.query<{ mark: string; pid: number }>(
    "SELECT current_setting('lockd.session_mark', true) AS mark, pg_backend_pid() AS pid",
    [],
    deadlineMs,
    'session check',
  );
  if (row?.mark !== mine || row.pid !== first.backendPid) throw new BackendStorageError(POOLED_MESSAGE);
}
