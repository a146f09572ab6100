import { GRPCUnavailableError, type ILeaseKeepAliveResponse } from 'etcd3';
import { BackendUnavailableError, LeadershipLostError } from '../../errors.js';
import { CallBudget } from './etcd-deadline.js';
import { classifyFailure, toLockdError } from './etcd-errors.js';
import type { CallTiming } from './etcd-failover.js';
import type { EtcdMember, EtcdMembers } from './etcd-members.js';

/**
 * One keep-alive of `leaseId`, raced across members; resolves with the first acknowledgement.
 *
 * It is sent to the two preferred members at once; when one fails outright (refused), the next
 * member gets it at once; and every `attemptMs / 2` without an answer one more copy goes to the
 * next member in turn (round robin, so a member is asked again on a fresh stream). Each copy has
 * its own deadline of `attemptMs` (a fraction of the self-fencing margin), and any copy's answer
 * counts. So neither a dead member nor a frozen one delays the acknowledgement. When the raft
 * leader is frozen, every member holds the copies it has (a follower forwards them to the frozen
 * leader and waits, even after a new leader is elected); the first copy sent after the election
 * is answered at once.
 *
 * Counting the answer of a later copy from the caller's send time is conservative: etcd renews
 * when a copy arrives, which is after that. Renewing twice is harmless.
 *
 * Rejects with `LeadershipLostError` when etcd reports the lease gone (TTL 0 or lease not found),
 * `BackendStorageError` on auth failures, and `BackendUnavailableError` when no member answered
 * within `budgetMs` or the client was closed (`isClosed`).
 */
export function raceKeepAlive(members: EtcdMembers, leaseId: string, timing: CallTiming, isClosed: () => boolean): Promise<ILeaseKeepAliveResponse> {
  const budget = new CallBudget(timing.budgetMs);
  const order = members.ordered();
  return new Promise((resolve, reject) => {
    let settled = false;
    let sent = 0;
    let lastError: unknown;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      clearInterval(hedge);
      finish();
    };
    const exhausted = (): boolean => budget.remainingMs() <= 0 || isClosed();
    // Copies still in flight end by their own deadlines, which the budget bounds.
    const giveUp = (): void => {
      const reason = lastError === undefined ? 'etcd client closed' : toLockdError(lastError, 'keep-alive').message;
      settle(() => reject(new BackendUnavailableError(`etcd keep-alive: no member answered within ${timing.budgetMs} ms: ${reason}`, lastError)));
    };
    const send = (): void => {
      if (settled) return;
      if (exhausted()) return giveUp();
      const member = order[sent % order.length]!;
      sent++;
      keepAliveOn(member, leaseId, budget.attemptOptions(timing.attemptMs)).then(
        (res) => {
          members.answered(member);
          if (Number(res.TTL) > 0) settle(() => resolve(res));
          else settle(() => reject(new LeadershipLostError('etcd keep-alive: the lease is gone (TTL 0)')));
        },
        (err: unknown) => {
          const kind = isClosed() ? 'final' : classifyFailure(err);
          if (kind === 'final') return settle(() => reject(toLockdError(err, 'keep-alive')));
          members.failed(member);
          lastError = err;
          // The first round goes on at once; later ones at the hedging pace.
          if (sent < order.length || exhausted()) send();
        },
      );
    };
    const hedge = setInterval(send, timing.attemptMs / 2);
    // Keep-alives come from a timer, not from a long synchronous stretch: the budget starts now.
    budget.start();
    send();
    if (order.length > 1) send();
  });
}

/** One keep-alive request on its own stream to `member`; resolves with the answer. */
async function keepAliveOn(member: EtcdMember, leaseId: string, options: { readonly deadline: number }): Promise<ILeaseKeepAliveResponse> {
  const stream = await member.client.leaseClient.leaseKeepAlive(options);
  return new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
    stream.on('data', resolve);
    stream.on('error', reject);
    stream.on('end', () => reject(new GRPCUnavailableError('keep-alive stream ended without an answer')));
    stream.write({ ID: leaseId });
    // Half-close at once: etcd answers this one request and ends the stream, so a copy that lost
    // the race needs no cancelling (a cancel would make etcd3 reset the member's connections).
    stream.end();
  });
}
