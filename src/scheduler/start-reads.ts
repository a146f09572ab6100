import { BackendUnavailableError, LeadershipLostError } from '../errors.js';
import { sleep } from './abortable.js';
import type { Limiter } from './limiter.js';
import { jobStateKey } from './records.js';
import type { SchedulerContext } from './scheduler-options.js';

/**
 * Backend calls in flight at once for each kind of start-up work (job-state reads, baseline
 * writes, orphan settling): enough to keep a remote backend busy, few enough that none waits long
 * enough behind the others to miss its deadline (etcd: min(TTL/2, 3 s), stamped when issued).
 */
export const START_CONCURRENCY = 32;

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2000;

/** `jobs/`: the prefix every `jobs/<job>` state key shares. */
const JOBS_PREFIX = jobStateKey('');

type Ctx = Pick<SchedulerContext, 'backend' | 'clock' | 'logger' | 'leader'>;

/**
 * `read()`, retried while it fails with `BackendUnavailableError` (a timeout, an overloaded or
 * unreachable server), after 100 ms doubling to 2 s, for as long as the leader lease is valid.
 * Rejects with `LeadershipLostError` once the lease is no longer valid (also during a pause), or
 * with any other error `read()` throws.
 */
export async function whileLeading<T>(ctx: Ctx, what: string, read: () => Promise<T>): Promise<T> {
  let delay = FIRST_RETRY_MS;
  for (;;) {
    if (!ctx.leader.isValid()) throw new LeadershipLostError(`${what}: the leader lease is no longer valid`);
    try {
      return await read();
    } catch (err) {
      if (!(err instanceof BackendUnavailableError)) throw err;
      ctx.logger.warn({ err: err.message, retryInMs: delay }, `${what} failed; retrying`);
      await sleep(ctx.clock, delay, ctx.leader.signal);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }
}

/**
 * The stored `jobs/<job>` text of every job in `names`, keyed by job name (absent: no state). One
 * `list('jobs/')` when it answers; when it fails with `BackendUnavailableError` (a timeout, or a
 * reply too large for the transport: etcd's 4 MiB gRPC limit is reached at about 20,000 jobs), one
 * `get` per job through `limiter`, each retried as `whileLeading` says. Rejects with
 * `LeadershipLostError` when the lease goes before every state is read; never with
 * `BackendUnavailableError`.
 */
export async function readJobStates(ctx: Ctx, names: readonly string[], limiter: Limiter): Promise<Map<string, string>> {
  const wanted = new Set(names);
  const out = new Map<string, string>();
  try {
    for (const { key, value } of await ctx.backend.list(JOBS_PREFIX)) {
      const name = key.slice(JOBS_PREFIX.length);
      if (wanted.has(name)) out.set(name, value);
    }
    return out;
  } catch (err) {
    if (!(err instanceof BackendUnavailableError)) throw err;
    ctx.logger.warn({ err: err.message, jobs: names.length }, 'could not list job states in one read; reading them job by job');
  }
  await Promise.all(
    names.map((name) =>
      limiter.run(async () => {
        const raw = await whileLeading(ctx, 'reading job state', () => ctx.backend.get(jobStateKey(name)));
        if (raw !== undefined) out.set(name, raw);
      }),
    ),
  );
  return out;
}
