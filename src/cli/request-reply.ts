import { randomUUID } from 'node:crypto';
import type { Backend } from '../election/backend.js';
import { requestDoneKey, requestsPrefix, type RequestAnswer, type RequestBody } from '../requests.js';
import { CliExit, ExitCode } from './common.js';

/**
 * Writes a request for the leader under `keyFor(id)` and waits for its answer (see src/requests.ts),
 * woken by a watch and, as a fallback, a 250 ms poll. Fails with `CliExit(1)` when there is no
 * leader or no answer arrives within `timeoutMs` (the request is then withdrawn).
 */
export async function askLeader(backend: Backend, keyFor: (id: string) => string, timeoutMs: number): Promise<RequestAnswer> {
  const { leader } = await backend.observe();
  if (leader === null) throw new CliExit(ExitCode.failure, 'no leader: no lockd replica is running for this cluster');
  const body: RequestBody = { id: randomUUID(), at: new Date().toISOString() };
  const doneKey = requestDoneKey(body.id);
  const key = keyFor(body.id);

  let finish!: (value: string | undefined) => void;
  const outcome = new Promise<string | undefined>((resolve) => (finish = resolve));
  const check = (): void => {
    backend.get(doneKey).then((value) => value !== undefined && finish(value), () => undefined);
  };
  const unwatch = backend.watchPrefix(requestsPrefix, check);
  const poll = setInterval(check, 250);
  const timer = setTimeout(() => finish(undefined), timeoutMs);
  try {
    await backend.put(key, JSON.stringify(body));
    const value = await outcome;
    if (value === undefined) {
      await backend.delete(key).catch(() => undefined);
      throw new CliExit(ExitCode.failure, `the leader (${leader.node}) did not answer within ${timeoutMs} ms`);
    }
    await backend.delete(doneKey).catch(() => undefined);
    return JSON.parse(value) as RequestAnswer;
  } finally {
    unwatch();
    clearInterval(poll);
    clearTimeout(timer);
  }
}
