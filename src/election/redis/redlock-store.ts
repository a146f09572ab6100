import { BackendUnavailableError, type LockdError } from '../../errors.js';
import type { ChangeFeed, GuardRow, LiveRow, RowStore, Turn } from '../rows/row-store.js';
import type { RedlockMember } from './redlock-member.js';
import { agreeing, fanOut, majority, majorityAnswered, minSightings, noMajority, outcomeDecided, requireAnswers, type Tally } from './redlock-quorum.js';
import { insertAtMajority } from './redlock-tokens.js';
import { newestHeld, newVersion, unwrap, wrap } from './redlock-values.js';

/**
 * The Redlock driver (src/election/rows/row-store.ts) over N independent primaries (3 or 5): every
 * operation runs the single-primary driver's script (RedisStore, redis-scripts.ts) on all of them
 * in parallel, each under lockd's deadline, and counts only when a majority of voting primaries
 * (redlock-member.ts) answers alike; a minority failing changes nothing, no majority fails the
 * operation (`BackendUnavailableError`: a write's outcome is then unknown). docs/backends/redis.md
 * ("Redlock mode") has the argument; in short:
 *
 * - **Holders**: a row is queued by a compare-and-set at a token above every counter a majority
 *   shows (redlock-tokens.ts), so tokens grow strictly across holders. A row holds when it is
 *   present on a majority of the answers and fewer than `capacity` distinct live members are ahead
 *   of it in the union of the answers of a majority: any row live on a majority is seen by every
 *   majority, so two holders of one lock never overlap while both rows live.
 * - **Liveness of a row**: a session's renewal counts (extends the self-fencing deadline) only if
 *   it reached a majority of the primaries that hold each of the session's rows; a primary whose
 *   reaper never saw a renewal may reap the session early, so a row counts only on primaries where
 *   the session was vouched for. A row is live, for others, on a majority until the holder's
 *   deadline: the single-primary reaping rule (observed silence) on each primary.
 * - **Data**: written to all, done on a majority; a read takes the newest version a majority holds
 *   (redlock-values.ts) and first makes sure a majority has it (read repair).
 */
export class RedlockStore implements RowStore {
  lastFailure: string | undefined;
  readonly changes: ChangeFeed;
  /** Per session: the primaries that acknowledged its open or its last counted renewal. */
  private readonly vouched = new Map<string, Set<number>>();
  /** Per row token: its session and the primaries where its entry was written. */
  private readonly rows = new Map<bigint, { session: string; written: Set<number> }>();
  /** Per primary: entries left behind by a failed attempt or delete there, deleted at the next renewal. */
  private readonly strays: Map<bigint, string>[];

  constructor(private readonly members: readonly RedlockMember[]) {
    this.strays = members.map(() => new Map());
    this.changes = unionFeed(members.map((m) => m.store.changes));
  }

  get quorum(): number {
    return majority(this.members.length);
  }

  async openSession(id: string, ttlMs: number, info: string): Promise<void> {
    // A row counts only on primaries that have the session: those that answer later join the set.
    const opened = new Set<number>();
    const tally = await this.all((s) => s.openSession(id, ttlMs, info), majorityAnswered, (i) => opened.add(i));
    this.settle(tally, 'open session');
    for (const i of tally.answers.keys()) opened.add(i);
    this.vouched.set(id, opened);
  }

  /**
   * Counts the renewal when a majority renewed it and, for every row of the session, a majority of
   * the primaries holding the row renewed it; false when a majority says the session is gone;
   * otherwise throws (the deadline is not extended, and the session self-fences if this lasts).
   */
  async renewSession(id: string, ttlMs: number, staleTokens: readonly bigint[]): Promise<boolean> {
    const counted = (tally: Tally<boolean>): boolean => {
      const renewed = agreeing(tally, (alive) => alive);
      if (agreeing(tally, (alive) => !alive).size >= this.quorum) return true;
      return renewed.size >= this.quorum && this.rowsOf(id).every((row) => [...row.written].filter((i) => renewed.has(i)).length >= this.quorum);
    };
    // Primaries whose renewal is acknowledged after the decision vouch for this renewal too.
    const renewed = new Set<number>();
    const tally = await this.all(
      (s, i) => s.renewSession(id, ttlMs, [...staleTokens, ...this.straysOf(i, id)]),
      counted,
      (i, alive) => {
        if (alive) renewed.add(i);
      },
    );
    for (const i of agreeing(tally, (alive) => alive)) renewed.add(i);
    if (agreeing(tally, (alive) => !alive).size >= this.quorum) {
      this.forgetSession(id);
      return false;
    }
    for (const i of renewed) for (const token of this.straysOf(i, id)) this.strays[i]?.delete(token);
    if (renewed.size < this.quorum) throw this.failed(noMajority(tally, 'renew session'));
    for (const [token, row] of this.rows) {
      if (row.session !== id) continue;
      const held = [...row.written].filter((i) => renewed.has(i)).length;
      if (held < this.quorum) {
        throw this.failed(new BackendUnavailableError(`redis redlock: renew session: row ${token} is on ${held} renewed primaries, fewer than a majority (${this.quorum})`));
      }
    }
    this.vouched.set(id, renewed);
    this.lastFailure = undefined;
    return true;
  }

  async deleteSession(id: string): Promise<void> {
    const tally = await this.all((s) => s.deleteSession(id), majorityAnswered);
    this.forgetSession(id);
    this.settle(tally, 'end session');
  }

  async insertHolder(session: string, name: string, hold: string, info: string | null, onlyIfFree: boolean, capacity: number): Promise<bigint | null | undefined> {
    try {
      const result = await insertAtMajority(
        this.members,
        { session, name, hold, info, onlyIfFree, capacity },
        () => this.vouched.get(session) ?? new Set<number>(),
        (i, token) => this.strays[i]?.set(token, session),
      );
      if (result.kind !== 'queued') return result.kind === 'full' ? null : undefined;
      // Counted only on primaries where the session was vouched for (see the class comment).
      const vouched = this.vouched.get(session) ?? new Set<number>();
      const written = new Set([...result.written].filter((i) => vouched.has(i)));
      this.rows.set(result.token, { session, written: result.written });
      if (written.size < this.quorum) {
        await this.deleteHolder(session, result.token).catch(() => undefined);
        throw new BackendUnavailableError(`redis redlock: queue a holder: the row reached ${written.size} primaries that vouch for the session, fewer than a majority`);
      }
      this.lastFailure = undefined;
      return result.token;
    } catch (err) {
      throw this.failed(err as LockdError);
    }
  }

  async deleteHolder(session: string, token: bigint): Promise<void> {
    this.rows.delete(token);
    const tally = await this.all((s) => s.deleteHolder(session, token), majorityAnswered);
    // Where it failed or is still under way, the next renewal deletes it (the store remembers the row's name).
    for (const m of this.members) if (!tally.answers.has(m.index)) this.strays[m.index]?.set(token, session);
    this.settle(tally, 'release a holder');
  }

  async turn(name: string, token: bigint, capacity: number): Promise<Turn> {
    const tally = await this.all((s) => s.turnAhead(name, token), majorityAnswered);
    this.settle(tally, 'look at a queue');
    const answers = [...tally.answers.values()];
    const present = answers.filter((a) => a.present).length;
    const ahead = new Set(answers.flatMap((a) => a.ahead));
    // Gone only when a majority no longer has it; a row missing from a minority is still ours.
    const gone = answers.length - present >= this.quorum;
    return { present: !gone, holder: present >= this.quorum && ahead.size < capacity, wakeAt: Infinity };
  }

  async liveRows(name: string): Promise<LiveRow[]> {
    const tally = await this.all((s) => s.liveRows(name), majorityAnswered);
    this.settle(tally, 'read a queue');
    const least = minSightings(tally);
    const seen = new Map<bigint, { row: LiveRow; n: number }>();
    for (const rows of tally.answers.values()) {
      for (const row of rows) {
        const entry = seen.get(row.token) ?? { row, n: 0 };
        entry.n++;
        entry.row = entry.row.remainingMs >= row.remainingMs ? entry.row : row;
        seen.set(row.token, entry);
      }
    }
    return [...seen.values()].filter((e) => e.n >= least).map((e) => e.row).sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
  }

  async rowsUnder(prefix: string): Promise<{ name: string; token: bigint; info: string | null }[]> {
    const tally = await this.all((s) => s.rowsUnder(prefix), majorityAnswered);
    this.settle(tally, 'list the queues');
    const least = minSightings(tally);
    const seen = new Map<string, { row: { name: string; token: bigint; info: string | null }; n: number }>();
    for (const rows of tally.answers.values()) {
      for (const row of rows) {
        const key = `${row.name}\n${row.token}`;
        const entry = seen.get(key) ?? { row, n: 0 };
        entry.n++;
        seen.set(key, entry);
      }
    }
    return [...seen.values()]
      .filter((e) => e.n >= least)
      .map((e) => e.row)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
  }

  /**
   * Written when a majority wrote it; `exists` or `lost` when a majority says so; anything else
   * (a split, or too few answers) throws `BackendUnavailableError`: the value may be on some
   * primaries, and the caller settles by reading it back.
   */
  async guardedPut(guards: readonly GuardRow[], key: string, value: string, ifAbsent: boolean): Promise<{ lost: GuardRow } | { written: boolean }> {
    const stored = wrap(newVersion(guards[0]?.token ?? 0n), value);
    const tally = await this.all(
      (s) => s.guardedPut(guards, key, stored, ifAbsent),
      outcomeDecided((r) => ('lost' in r ? 'lost' : r.written ? 'written' : 'exists')),
    );
    if (agreeing(tally, (r) => 'written' in r && r.written).size >= this.quorum) return this.ok({ written: true });
    if (agreeing(tally, (r) => 'written' in r && !r.written).size >= this.quorum) return this.ok({ written: false });
    const lost = [...tally.answers.values()].filter((r): r is { lost: GuardRow } => 'lost' in r);
    if (lost.length >= this.quorum) return this.ok({ lost: (lost[0] as { lost: GuardRow }).lost });
    throw this.failed(tally.answers.size >= this.quorum ? new BackendUnavailableError(`redis redlock: guarded write of ${key}: the primaries disagree (no majority wrote it); it may be on some of them`) : noMajority(tally, `guarded write of ${key}`));
  }

  /**
   * `guardedPut` for several keys at once (each primary checks the guards and writes all or none,
   * redis-scripts.ts `guardedPutAll`): written once a majority wrote them, lost once a majority
   * found a guard lost. The entries share one version (they are one write).
   */
  async guardedPutAll(guards: readonly GuardRow[], entries: readonly { key: string; value: string }[]): Promise<{ lost: GuardRow } | { written: true }> {
    const version = newVersion(guards[0]?.token ?? 0n);
    const stored = entries.map(({ key, value }) => ({ key, value: wrap(version, value) }));
    const what = `guarded write of ${entries.length} keys`;
    const tally = await this.all(
      (s) => s.guardedPutAll(guards, stored),
      outcomeDecided((r) => ('lost' in r ? 'lost' : 'written')),
    );
    if (agreeing(tally, (r) => 'written' in r).size >= this.quorum) return this.ok({ written: true });
    const lost = [...tally.answers.values()].filter((r): r is { lost: GuardRow } => 'lost' in r);
    if (lost.length >= this.quorum) return this.ok({ lost: (lost[0] as { lost: GuardRow }).lost });
    throw this.failed(tally.answers.size >= this.quorum ? new BackendUnavailableError(`redis redlock: ${what}: the primaries disagree (no majority wrote it); it may be on some of them`) : noMajority(tally, what));
  }

  async put(key: string, value: string): Promise<void> {
    const stored = wrap(newVersion(0n), value);
    this.settle(await this.all((s) => s.put(key, stored), majorityAnswered), `write of ${key}`);
  }

  async get(key: string): Promise<string | undefined> {
    const tally = await this.all((s) => s.get(key), majorityAnswered);
    this.settle(tally, `read of ${key}`);
    const chosen = newestHeld([...tally.answers.values()], minSightings(tally));
    await this.repair(key, chosen, tally.answers);
    return chosen === undefined ? undefined : unwrap(chosen).value;
  }

  async list(prefix: string): Promise<{ key: string; value: string }[]> {
    const tally = await this.all((s) => s.list(prefix), majorityAnswered);
    this.settle(tally, `list of ${prefix}`);
    const byKey = new Map<string, Map<number, string>>();
    for (const [i, entries] of tally.answers) {
      for (const { key, value } of entries) byKey.set(key, (byKey.get(key) ?? new Map<number, string>()).set(i, value));
    }
    const least = minSightings(tally);
    const out: { key: string; value: string }[] = [];
    const repairs: Promise<void>[] = [];
    for (const [key, values] of byKey) {
      const chosen = newestHeld([...values.values()], least);
      if (chosen === undefined) continue;
      repairs.push(this.repair(key, chosen, new Map([...tally.answers.keys()].map((i) => [i, values.get(i)]))));
      out.push({ key, value: unwrap(chosen).value });
    }
    await Promise.all(repairs);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Read repair, as in ABD registers: before a read returns `chosen`, it must be on a majority, so
   * that every later read sees it (or something newer) whichever majority answers. Writes it to
   * the primaries that do not show it (unless they hold a newer version); throws
   * `BackendUnavailableError` when it cannot reach a majority. Nothing to do for an absent key.
   */
  private async repair(key: string, chosen: string | undefined, answers: ReadonlyMap<number, string | undefined>): Promise<void> {
    if (chosen === undefined) return;
    const have = new Set([...answers].filter(([, v]) => v === chosen).map(([i]) => i));
    if (have.size >= this.quorum) return;
    const tally = await fanOut(
      this.members.filter((m) => !have.has(m.index)),
      (s) => s.putIfNewer(key, chosen),
      (t) => have.size + t.answers.size >= this.quorum,
    );
    if (have.size + tally.answers.size < this.quorum) {
      throw this.failed(new BackendUnavailableError(`redis redlock: read of ${key}: the value seen is on ${have.size} primaries and could be repaired on ${tally.answers.size}, fewer than a majority (${this.quorum})`));
    }
  }

  async delete(key: string): Promise<void> {
    this.settle(await this.all((s) => s.delete(key), majorityAnswered), `delete of ${key}`);
  }

  /** Every primary's fingerprint in order ('-' for one without an answer): any change to any of them shows. */
  async fingerprint(prefix: string): Promise<string> {
    const tally = await this.all((s) => s.fingerprint(prefix));
    this.settle(tally, `watch of ${prefix}`);
    return this.members.map((m) => tally.answers.get(m.index) ?? '-').join('/');
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.store.close()));
  }

  private all<T>(
    fn: (store: RedlockMember['store'], index: number) => Promise<T>,
    enough?: (tally: Tally<T>) => boolean,
    late?: (index: number, value: T) => void,
  ): Promise<Tally<T>> {
    return fanOut(this.members, fn, enough, late);
  }

  private rowsOf(session: string): { session: string; written: Set<number> }[] {
    return [...this.rows.values()].filter((row) => row.session === session);
  }

  /** Throws unless a majority answered. */
  private settle(tally: Tally<unknown>, what: string): void {
    try {
      requireAnswers(tally, what);
    } catch (err) {
      throw this.failed(err as LockdError);
    }
    this.lastFailure = undefined;
  }

  private ok<T>(value: T): T {
    this.lastFailure = undefined;
    return value;
  }

  private straysOf(index: number, session: string): bigint[] {
    return [...(this.strays[index] ?? new Map<bigint, string>())].filter(([, s]) => s === session).map(([t]) => t);
  }

  private forgetSession(id: string): void {
    this.vouched.delete(id);
    for (const [token, row] of this.rows) if (row.session === id) this.rows.delete(token);
    for (const strays of this.strays) for (const [token, s] of strays) if (s === id) strays.delete(token);
  }

  private failed(err: LockdError): LockdError {
    this.lastFailure = err.message;
    return err;
  }
}

/** One feed of all the primaries' feeds: a change anywhere wakes the listener. */
function unionFeed(feeds: readonly ChangeFeed[]): ChangeFeed {
  return {
    subscribe(listener) {
      const stops = feeds.map((f) => f.subscribe(listener));
      return () => {
        for (const stop of stops) stop();
      };
    },
    stop() {
      for (const f of feeds) f.stop();
    },
  };
}
