import { setTimeout as sleep } from 'node:timers/promises';
import { BackendUnavailableError } from '../../errors.js';
import type { RedlockMember } from './redlock-member.js';
import { agreeing, fanOut, majority, majorityAnswered, noMajority, requireAnswers } from './redlock-quorum.js';

/** One holder row to queue on a majority. */
export interface InsertRequest {
  session: string;
  name: string;
  /** '' for a lock or the election, the hold number of a seat. */
  hold: string;
  info: string | null;
  onlyIfFree: boolean;
  capacity: number;
}

/**
 * Queued at `token` on the primaries `written` (a majority of those that vouch for the session;
 * primaries whose answer comes later are added to the set as it arrives); or the name is full; or
 * the session is gone.
 */
export type InsertResult = { kind: 'queued'; token: bigint; written: Set<number> } | { kind: 'full' } | { kind: 'gone' };

/** Rounds before an insert that keeps losing races gives up (retryable). */
const ATTEMPTS = 8;

/**
 * Queues a holder row on a majority of independent primaries at a fencing token that is strictly
 * greater than the token of every row queued on a majority before this call began:
 *
 * 1. read every primary's counter (`tokenRead`); with a majority of answers, T = max(counter + 1,
 *    server µs) over them: a row queued before carried its token to a majority of counters, and
 *    this majority shares a primary with that one, so T is above it (the µs floor keeps tokens
 *    growing when a primary lost its counter);
 * 2. on every primary, queue the row at T **only if that primary's counter is below T**, and set
 *    the counter to T (`enqueueAt`, a compare-and-set). The row counts only when a majority did:
 *    two writers of the same T cannot both get a majority (a primary in both would refuse the
 *    second), and a writer of a smaller T cannot complete after a larger one has (the larger one's
 *    majority refuses it). A writer that lost the race ('behind') starts again with a fresh read.
 *
 * A retry after an unknown outcome finds its row already on a majority at one token and adopts it
 * (idempotent per session, name and hold). After a failed round, every primary is told the attempt's
 * token is a stray (`stray`): it is deleted at the next renewal, so a leftover never stands in
 * anyone's way for longer than one renewal interval. Throws `BackendUnavailableError` (retryable)
 * without a majority of answers or after ATTEMPTS lost races.
 */
export async function insertAtMajority(
  members: readonly RedlockMember[],
  req: InsertRequest,
  vouched: () => ReadonlySet<number>,
  stray: (index: number, token: bigint) => void,
): Promise<InsertResult> {
  const quorum = majority(members.length);
  const adopt = (token: bigint): void => {
    for (const m of members) m.store.adoptHolder(req.session, req.name, req.hold, token);
  };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const read = await fanOut(members, (s) => s.readToken(req.session, req.name, req.hold), majorityAnswered);
    requireAnswers(read, 'read the token counters');
    if (agreeing(read, (a) => !a.alive).size >= quorum) return { kind: 'gone' };
    const mine = new Map<bigint, Set<number>>();
    for (const [i, a] of read.answers) if (a.alive && a.mine !== undefined) mine.set(a.mine, (mine.get(a.mine) ?? new Set<number>()).add(i));
    for (const [token, at] of mine) {
      if (at.size < quorum) continue;
      adopt(token);
      return { kind: 'queued', token, written: at };
    }
    let token = 0n;
    for (const a of read.answers.values()) token = max(token, a.counter + 1n, a.micros);
    const written = new Set<number>();
    const counted = (): number => [...written].filter((i) => vouched().has(i)).length;
    const cas = await fanOut(
      members,
      (s) => s.insertHolderAt(req.session, req.name, req.hold, req.info, req.onlyIfFree, req.capacity, token),
      (t) => {
        for (const i of agreeing(t, (r) => r === 'ok')) written.add(i);
        // Done once the row counts, or once it cannot any more.
        return counted() >= quorum || counted() + (t.size - t.answers.size - t.failures.length) < quorum;
      },
      (i, r) => {
        if (r === 'ok') written.add(i);
      },
    );
    for (const i of agreeing(cas, (r) => r === 'ok')) written.add(i);
    // Every primary, voting or not, may hold the entry now: each must be able to delete it.
    adopt(token);
    if (counted() >= quorum) return { kind: 'queued', token, written };
    for (const m of members) stray(m.index, token);
    if (agreeing(cas, (r) => r === 'gone').size >= quorum) return { kind: 'gone' };
    // A try never waits: another holder or waiter is there on some primary.
    if (req.onlyIfFree && agreeing(cas, (r) => r === 'full').size > 0) return { kind: 'full' };
    if (agreeing(cas, (r) => r === 'behind').size === 0) throw noMajority(cas, 'queue a holder');
    // Lost a race for the token: a short random pause, so that two writers do not race again in step.
    await sleep(Math.random() * 5 * (attempt + 1));
  }
  throw new BackendUnavailableError(`redis redlock: queue a holder: lost the race for a token ${ATTEMPTS} times in a row`);
}

function max(...values: bigint[]): bigint {
  return values.reduce((a, b) => (a > b ? a : b));
}
