import type { Lease } from '../election/backend.js';
import { BackendUnavailableError, LeadershipLostError } from '../errors.js';
import { sleep } from './abortable.js';
import type { SchedulerContext } from './scheduler-options.js';

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2000;

/**
 * A guarded write (`guardedPut`) that settles what happened, for the scheduler's records. A write
 * that failed with `BackendUnavailableError` may still have been applied (a timeout, a reply lost
 * with the connection), so it is never taken as "not written": the key is read back, and
 * - our own value is there: written (an `ifAbsent` create that a retry would call "exists");
 * - another value is there (`ifAbsent`): existed, handled by someone else;
 * - nothing is there: written again.
 * Transient failures are retried (100 ms, doubling to 2 s) for as long as every guard is valid.
 * Resolves `'written'` or `'existed'`; rejects with `LeadershipLostError` once a guard is lost
 * (the slot is then the next leader's to settle), never with `BackendUnavailableError`.
 */
export async function settledPut(
  ctx: Pick<SchedulerContext, 'backend' | 'clock' | 'logger'>,
  guards: Lease | readonly Lease[],
  key: string,
  value: string,
  opts: { ifAbsent?: boolean } = {},
): Promise<'written' | 'existed'> {
  const all = 'token' in guards ? [guards as Lease] : (guards as readonly Lease[]);
  let delay = FIRST_RETRY_MS;
  let uncertain = false;
  for (;;) {
    const lost = all.find((g) => !g.isValid());
    if (lost !== undefined) throw new LeadershipLostError(`${lost.name} (token ${lost.token}) is no longer valid; ${key} left unsettled`);
    try {
      if (uncertain && opts.ifAbsent === true) {
        const stored = await ctx.backend.get(key);
        if (stored === value) return 'written';
        if (stored !== undefined) return 'existed';
      }
      const created = await ctx.backend.guardedPut(guards, key, value, opts);
      if (created) return 'written';
      // "Exists" after an attempt that may have applied: it may be our own write.
      if (uncertain && (await ctx.backend.get(key)) === value) return 'written';
      return 'existed';
    } catch (err) {
      if (!(err instanceof BackendUnavailableError)) throw err;
      uncertain = true;
      ctx.logger.warn({ err: err.message, key, retryInMs: delay }, 'record write not confirmed; settling it');
      // Ends early, with the guard's LeadershipLostError, when a guard is lost meanwhile.
      await sleep(ctx.clock, delay, all[0]!.signal);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }
}
