import { BackendStorageError, BackendUnavailableError, type LockdError } from '../../errors.js';
import type { RedlockMember, Vote } from './redlock-member.js';
import type { RedisStore } from './redis-store.js';

/** How many of `n` primaries make a majority: any two such sets share a primary. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** The answers of one fan-out: each voting primary's value, by member index. */
export interface Tally<T> {
  /** Voting answers, by member index. */
  answers: Map<number, T>;
  /** The failures (for messages). */
  failures: LockdError[];
  /** How many primaries there are (N), and how many make a majority (N/2 + 1). */
  size: number;
  quorum: number;
}

/**
 * Runs `fn` on every primary in parallel (each call under its link's deadline) and collects the
 * voting answers: once all have settled, or as soon as `enough(tally so far)` holds, so that a
 * frozen or cut-off primary (whose calls end only at their deadline) does not slow an operation a
 * majority has already decided. Calls still running then go on to their end; their answers go to
 * `late`, if given, and are otherwise ignored (a write among them may still be applied: callers
 * treat such a primary as one whose outcome is unknown). A primary that failed or abstained simply has no answer: the caller decides
 * from the answers whether a majority agrees.
 */
export function fanOut<T>(
  members: readonly RedlockMember[],
  fn: (store: RedisStore, index: number) => Promise<T>,
  enough: (tally: Tally<T>) => boolean = () => false,
  late?: (index: number, value: T) => void,
): Promise<Tally<T>> {
  const tally: Tally<T> = { answers: new Map(), failures: [], size: members.length, quorum: majority(members.length) };
  let decided = false;
  return new Promise((resolve) => {
    let pending = members.length;
    if (pending === 0) resolve(tally);
    for (const m of members) {
      void m.ask((store) => fn(store, m.index)).then((vote: Vote<T>) => {
        if (decided) {
          if (vote.kind === 'answer') late?.(m.index, vote.value);
          return;
        }
        if (vote.kind === 'answer') tally.answers.set(m.index, vote.value);
        else if (vote.kind === 'failed') tally.failures.push(vote.error);
        pending--;
        if (pending === 0 || enough(tally)) {
          decided = true;
          resolve(tally);
        }
      });
    }
  });
}

/** `enough` for `fanOut`: a majority has answered (whatever they said). */
export function majorityAnswered(tally: Tally<unknown>): boolean {
  return tally.answers.size >= tally.quorum;
}

/**
 * `enough` for `fanOut`: some answer `classify` names has a majority, or no class can get one any
 * more (so the rest would not change the outcome).
 */
export function outcomeDecided<T>(classify: (value: T) => string): (tally: Tally<T>) => boolean {
  return (tally) => {
    const counts = new Map<string, number>();
    for (const v of tally.answers.values()) counts.set(classify(v), (counts.get(classify(v)) ?? 0) + 1);
    const unanswered = tally.size - tally.answers.size - tally.failures.length;
    const best = Math.max(0, ...counts.values());
    return best >= tally.quorum || best + unanswered < tally.quorum;
  };
}

/** The members whose answer satisfies `test`. */
export function agreeing<T>(tally: Tally<T>, test: (value: T) => boolean): Set<number> {
  return new Set([...tally.answers].filter(([, v]) => test(v)).map(([i]) => i));
}

/**
 * The error for an operation that no majority confirmed: `BackendStorageError` when every primary
 * that failed refused it for good (a misconfiguration), else `BackendUnavailableError` (retryable;
 * for a write, the outcome is unknown: it may have been applied on some primaries).
 */
export function noMajority(tally: Tally<unknown>, what: string): LockdError {
  const reasons = tally.failures.map((e) => e.message);
  const detail = `${tally.answers.size} of ${tally.size} primaries answered (a majority is ${tally.quorum})${reasons.length > 0 ? `: ${reasons.join('; ')}` : ''}`;
  if (tally.failures.length > 0 && tally.failures.every((e) => e instanceof BackendStorageError)) {
    return new BackendStorageError(`redis redlock: ${what}: ${detail}`, tally.failures[0]);
  }
  return new BackendUnavailableError(`redis redlock: ${what}: no majority; ${detail}`, tally.failures[0]);
}

/** Throws `noMajority` unless at least a majority answered. */
export function requireAnswers(tally: Tally<unknown>, what: string): void {
  if (tally.answers.size < tally.quorum) throw noMajority(tally, what);
}

/**
 * How many of `answered` answers must show a value for it to be one a majority holds: a value on
 * Q of N primaries shows on at least `answered − (N − Q)` of any `answered` answers; a value on
 * fewer (a write that reached a minority) shows on fewer when every primary answers.
 */
export function minSightings(tally: Tally<unknown>): number {
  return Math.max(1, tally.answers.size - (tally.size - tally.quorum));
}

