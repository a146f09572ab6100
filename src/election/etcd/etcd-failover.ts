import { BackendUnavailableError } from '../../errors.js';
import { CallBudget } from './etcd-deadline.js';
import { classifyFailure, toLockdError } from './etcd-errors.js';
import type { EtcdMember, EtcdMembers } from './etcd-members.js';

/** Deadlines of one call: all attempts within `budgetMs`, each at most `attemptMs`. */
export interface CallTiming {
  budgetMs: number;
  attemptMs: number;
}

/** The answer of the attempt that succeeded. */
export interface Answered<T> {
  value: T;
  /**
   * An earlier attempt failed with an unknown outcome: it may have been applied before this
   * one, so a write that finds its compare failed may be looking at its own first copy.
   */
  replayed: boolean;
}

/**
 * Runs one unary etcd call, moving to another member on failure, within the call's budget.
 *
 * Attempts go to the members in order of preference (see `EtcdMembers`), one at a time, each with
 * a deadline of `attemptMs`, so a frozen member is left after a fraction of the budget. After a
 * failure the next member is tried at once; after a failure on every member, again from the first
 * after a short pause. A `final` failure (lease not found, permission denied, ...) is thrown at
 * once, converted by `toLockdError`. Resolves with the answer and whether an earlier attempt may
 * have been applied (`Answered`). When the budget is spent, throws `BackendUnavailableError`
 * naming the last failure and whether an attempt may have been applied.
 *
 * The retry rule: an attempt that failed `unsent` is retried freely. One that failed `ambiguous`
 * (it may have been applied) is retried too, which is safe only because every request lockd
 * sends through `EtcdRpc` may be applied twice: see `EtcdRpc` for the argument per request. A
 * caller that adds a request must keep that true, or handle a second application itself.
 * `isClosed` stops the loop (the client was closed under it).
 */
export async function callWithFailover<T>(
  members: EtcdMembers,
  timing: CallTiming,
  what: string,
  isClosed: () => boolean,
  attempt: (member: EtcdMember, options: { readonly deadline: number }) => Promise<T>,
): Promise<Answered<T>> {
  const budget = new CallBudget(timing.budgetMs);
  const order = members.ordered();
  let mayHaveApplied = false;
  for (let tried = 1; ; tried++) {
    const member = order[(tried - 1) % order.length]!;
    try {
      const value = await attempt(member, budget.attemptOptions(timing.attemptMs));
      members.answered(member);
      return { value, replayed: mayHaveApplied };
    } catch (err) {
      budget.start();
      const kind = isClosed() ? 'final' : classifyFailure(err);
      if (kind === 'final') throw toLockdError(err, what);
      members.failed(member);
      mayHaveApplied ||= kind === 'ambiguous';
      if (tried % order.length === 0) await pause(Math.min(timing.attemptMs / 3, budget.remainingMs()));
      if (budget.remainingMs() <= 0 || isClosed()) {
        const unavailable = toLockdError(err, what);
        const suffix = mayHaveApplied ? ' (an attempt may have been applied)' : '';
        throw new BackendUnavailableError(`${unavailable.message}; ${tried} attempt(s) on ${order.length} member(s)${suffix}`, err);
      }
    }
  }
}

function pause(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
