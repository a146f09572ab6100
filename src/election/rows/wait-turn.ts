import { LockdError } from '../../errors.js';
import { monotonicMs } from '../../clock.js';
import type { RowSession } from './row-session.js';
import type { RowStore, Turn } from './row-store.js';

/** What `waitTurn` waits on, and what can interrupt it. */
export interface WaitTurnOptions {
  store: RowStore;
  session: RowSession;
  /** The row's name in `holders`, and its token. */
  name: string;
  token: bigint;
  /** How many rows of `name` hold at once (1: the election, a lock; more: a seat set). */
  capacity: number;
  signal?: AbortSignal;
  /** Aborted when the backend closes. */
  closing: AbortSignal;
}

/**
 * Waits until row `token` holds: fewer than `capacity` live rows of `name` are ahead of it. Looks again whenever the store's
 * change feed says it may have changed (someone released, queued or was reaped) or the earliest
 * row ahead may be reaped (`Turn.wakeAt`: its holder died without a word), one look at a time.
 * Resolves true when the row holds, false when the session was lost meanwhile (the row went with
 * it). Rejects with the reason of `signal` or `closing`, or with a non-retryable store error; a
 * retryable one (busy, unreachable) only makes it look again on the next change or tick.
 */
export function waitTurn(opts: WaitTurnOptions): Promise<boolean> {
  const { store, session, name, token, capacity, signal, closing } = opts;
  return new Promise<boolean>((resolve, reject) => {
    let wakeAt = -Infinity;
    let done = false;
    let looking = false;
    /** A change arrived while a look was in flight: that look may have read the old state. */
    let lookAgain = false;
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
    const look = async (changed: boolean): Promise<void> => {
      if (done || (!changed && monotonicMs() < wakeAt)) return;
      if (looking) {
        lookAgain = true;
        return;
      }
      // A lost session aborts session.signal, which settles this wait through onLost.
      if (!session.checkAlive()) return;
      looking = true;
      lookAgain = false;
      let turn: Turn;
      try {
        turn = await store.turn(name, token, capacity);
      } catch (err) {
        if (!(err instanceof LockdError && err.retryable)) finish(() => reject(err));
        return;
      } finally {
        looking = false;
      }
      if (done) return;
      if (!turn.present) session.lose('its row was reaped (this process was paused, starved or cut off for longer than the TTL)', true);
      else if (turn.holder) finish(() => resolve(true));
      else if (lookAgain) void look(true);
      else wakeAt = turn.wakeAt;
    };
    const unsubscribe = store.changes.subscribe((changed) => void look(changed));
    signal?.addEventListener('abort', onAbort, { once: true });
    closing.addEventListener('abort', onClose, { once: true });
    session.signal.addEventListener('abort', onLost, { once: true });
    if (signal?.aborted) onAbort();
    else if (closing.aborted) onClose();
    else if (session.signal.aborted) onLost();
    else void look(true);
  });
}
