import type { Logger } from 'pino';
import type { ChangePoller } from './change-poller.js';

/**
 * Calls `onChange` whenever `fingerprint()` (count and newest revision of the keys under a
 * prefix) differs from the last one seen, looking only on ticks where the database changed.
 * Best effort: a failed read is skipped, and the first good read after one fires once so that
 * the caller re-reads. A throwing `onChange` is logged, never propagated. Returns the unsubscribe.
 */
export function watchFingerprint(
  poller: ChangePoller,
  fingerprint: () => string,
  onChange: () => void,
  logger: Logger,
): () => void {
  const read = (): string | undefined => {
    try {
      return fingerprint();
    } catch {
      return undefined;
    }
  };
  let last = read();
  return poller.subscribe((changed) => {
    if (!changed) return;
    const now = read();
    if (now === undefined || now === last) return;
    last = now;
    try {
      onChange();
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'watchPrefix callback threw');
    }
  });
}
