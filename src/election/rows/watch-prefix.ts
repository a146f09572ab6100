import type { Logger } from 'pino';
import type { ChangeFeed } from './row-store.js';

/**
 * Calls `onChange` whenever `fingerprint()` (count and newest revision of the keys under a
 * prefix) differs from the last one seen, looking only when the feed says the store may have
 * changed, one read at a time. Best effort: a failed read is skipped and the next change looks
 * again; the first good read after a failed one fires once, since a change may have been missed.
 * A throwing `onChange` is logged, never propagated. Changes are seen at the feed's `watch` pace
 * (embedded: within 250 ms; PostgreSQL, Redis: at once by notification, else within the fallback
 * poll). Returns the unsubscribe function.
 */
export function watchFingerprint(
  feed: ChangeFeed,
  fingerprint: () => Promise<string>,
  onChange: () => void,
  logger: Logger,
): () => void {
  let last: string | undefined;
  /** Whether a read was attempted: the first one only sets the baseline. */
  let looked = false;
  let failed = false;
  let reading: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const read = async (): Promise<void> => {
    let now: string;
    try {
      now = await fingerprint();
    } catch {
      failed = looked = true;
      return;
    }
    const fire = looked && (now !== last || failed);
    looked = true;
    last = now;
    failed = false;
    if (!fire || stopped) return;
    try {
      onChange();
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'watchPrefix callback threw');
    }
  };
  const look = (): void => {
    if (reading !== undefined) {
      again = true;
      return;
    }
    reading = read().finally(() => {
      reading = undefined;
      if (again && !stopped) {
        again = false;
        look();
      }
    });
  };
  look();
  // A watch is served at the feed's slow pace: no waiter's turn depends on it.
  const unsubscribe = feed.subscribe((changed) => {
    if (changed) look();
  }, 'watch');
  return () => {
    stopped = true;
    unsubscribe();
  };
}
