import { setTimeout as delay } from 'node:timers/promises';

/**
 * Polls `condition` every `pollMs` until it holds, for states no event announces (a file's
 * content, a server's answer). Throws naming `what` once `timeoutMs` has passed.
 */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, pollMs = 20): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(pollMs);
  }
}
