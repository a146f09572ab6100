import { randomUUID } from 'node:crypto';
import type { Backend } from '../election/backend.js';
import { isClaim, parseReply, requestDoneKey, requestsPrefix, type RequestAnswer, type RequestBody, type RequestClaim } from '../requests.js';
import { CliExit, ExitCode } from './common.js';

/**
 * Writes a request for the leader under `keyFor(id)` and waits for its answer (see src/requests.ts),
 * woken by a watch and, as a fallback, a 250 ms poll. A claim (the leader is serving it) is not an
 * answer: it keeps waiting. Once answered, deletes the request key (the leader may not have yet),
 * then the answer. Fails with `CliExit(1)` when there is no leader or no answer arrives within
 * `timeoutMs`; the request is then withdrawn, which stops any leader from taking it later, but
 * one that has taken it already (the message says so) still runs it.
 */
export async function askLeader(backend: Backend, keyFor: (id: string) => string, timeoutMs: number): Promise<RequestAnswer> {
  const { leader } = await backend.observe();
  if (leader === null) throw new CliExit(ExitCode.failure, 'no leader: no lockd replica is running for this cluster');
  const body: RequestBody = { id: randomUUID(), at: new Date().toISOString() };
  const doneKey = requestDoneKey(body.id);
  const key = keyFor(body.id);

  let claim: RequestClaim | undefined;
  let finish!: (answer: RequestAnswer | undefined) => void;
  const outcome = new Promise<RequestAnswer | undefined>((resolve) => (finish = resolve));
  const check = (): void => {
    backend.get(doneKey).then(
      (value) => {
        if (value === undefined) return;
        const reply = parseReply(value);
        if (isClaim(reply)) claim = reply;
        else finish(reply);
      },
      () => undefined,
    );
  };
  const unwatch = backend.watchPrefix(requestsPrefix, check);
  const poll = setInterval(check, 250);
  const timer = setTimeout(() => finish(undefined), timeoutMs);
  try {
    await backend.put(key, JSON.stringify(body));
    const answer = await outcome;
    // The request first: a request without its answer would be served again.
    await backend.delete(key).catch(() => undefined);
    await backend.delete(doneKey).catch(() => undefined);
    if (answer === undefined) {
      const taken = claim === undefined ? '' : ` (${claim.node} took the request at ${claim.at} and may still act on it)`;
      throw new CliExit(ExitCode.failure, `the leader (${leader.node}) did not answer within ${timeoutMs} ms${taken}`);
    }
    return answer;
  } finally {
    unwatch();
    clearInterval(poll);
    clearTimeout(timer);
  }
}
