import { LockdError } from '../../errors.js';
import type { ChangePoller } from './change-poller.js';
import { monotonicMs } from '../../clock.js';
import type { EmbeddedSession } from './session.js';
import type { EmbeddedStore, Turn } from './store.js';

/** What `waitTurn` waits on, and what can interrupt it. */
export interface WaitTurnOptions {
  store: EmbeddedStore;
  poller: ChangePoller;
  session: EmbeddedSession;
  /** The row's name in `holders`, and its token. */
  name: string;
  token: bigint;
  signal?: AbortSignal;
  /** Aborted when the backend closes. */
  closing: AbortSignal;
}

/**
 * Waits until row `token` is the lowest live row of `name`. Looks again whenever the database
 * changed (someone released or queued) or the earliest row ahead reaches its expiry (its holder
 * died without a word), so a release is seen within one poll interval and a crash within the
 * TTL plus one. Resolves true when the row holds, false when the session was lost meanwhile (the
 * row went with it). Rejects with the reason of `signal` or `closing`, or with a non-retryable
 * store error; a retryable one (busy) only makes it look again on the next tick.
 */
export function waitTurn(opts: WaitTurnOptions): Promise<boolean> {
  const { store, session, name, token, signal, closing } = opts;
  return new Promise<boolean>((resolve, reject) => {
    let wakeAt = -Infinity;
    let done = false;
    const finish = (settle: () => void): void => {
      if (done) return;
      done = true;
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
      closing.removeEventListener('abort', onClose);
      session.signal.removeEventListener('abort', onLost);
      settle();
    };
    const onAbort = (): void => finish(() => reject(signal?.reason));
    const onClose = (): void => finish(() => reject(closing.reason));
    const onLost = (): void => finish(() => resolve(false));
    const look = (changed: boolean): void => {
      if (done || (!changed && monotonicMs() < wakeAt)) return;
      // A lost session aborts session.signal, which settles this wait through onLost.
      if (!session.checkAlive()) return;
      let turn: Turn;
      try {
        turn = store.turn(name, token);
      } catch (err) {
        if (!(err instanceof LockdError && err.retryable)) finish(() => reject(err));
        return;
      }
      if (!turn.present) session.lose('its row expired in the database (this process was paused or starved for longer than the TTL)', true);
      else if (turn.holder) finish(() => resolve(true));
      else wakeAt = turn.wakeAt;
    };
    const unsubscribe = opts.poller.subscribe(look);
    signal?.addEventListener('abort', onAbort, { once: true });
    closing.addEventListener('abort', onClose, { once: true });
    session.signal.addEventListener('abort', onLost, { once: true });
    if (signal?.aborted) onAbort();
    else if (closing.aborted) onClose();
    else if (session.signal.aborted) onLost();
    else look(true);
  });
}
