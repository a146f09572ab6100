import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { BackendStorageError, LockdError } from '../../errors.js';
import type { DataLoss } from '../backend.js';
import { EpochMismatchError } from './redis-errors.js';
import type { GuardRow, LiveRow, RowStore, Turn } from '../rows/row-store.js';
import type { RedisKeys } from './redis-keys.js';
import type { RedisLink } from './redis-link.js';
import type { PushFeed } from '../rows/push-feed.js';
import type { SilenceReaper } from '../rows/silence-reaper.js';
import { SCRIPTS, type LuaScript } from './redis-scripts.js';

/** The connections a store spreads its calls over, by purpose. */
export interface RedisLinks {
  /** Session opens and renewals only, so that a burst of other calls never delays a renewal. */
  renew: RedisLink;
  /** Everything else, each call on the least busy one. */
  statements: readonly RedisLink[];
}

/** Deadlines of the store's calls (ms). */
export interface RedisDeadlines {
  renewMs: number;
  statementMs: number;
}

/** What the store checks every script against, and how it records a loss of the data. */
export interface RedisEpoch {
  /** The epoch `init` found or made at open. */
  epoch: string;
  /** `format` and `version` of the layout, for `recover`. */
  format: string;
  version: string;
  /** The lease TTL: a recorded loss is reported by `dataLoss` once it is this old. */
  ttlMs: number;
  logger: Logger;
  /**
   * What a call that finds another epoch (or none) does: `record` (one primary: the data was
   * lost, see the class comment), or `adopt` (a Redlock primary: it takes the epoch in force, making
   * one if there is none, and records nothing; a primary that lost its data is kept from voting by
   * its boot marker for a TTL, see redlock-member.ts, and the majority still holds the data).
   */
  onMismatch: 'record' | 'adopt';
}

/**
 * The Redis driver (src/election/rows/row-store.ts) for one cluster: each operation is one Lua
 * script of redis-scripts.ts (or one read command), under a deadline of lockd's own; a dead
 * session is reaped by the reaper (redis-reaper.ts) by the observed-silence rule. Throws only lockd's typed
 * errors (see redis-errors.ts); a `BackendUnavailableError` from a write means its outcome is
 * unknown, and the caller settles it by retrying (the writes are idempotent per session and token).
 *
 * A queue entry is keyed by its session within the queue of its name, so deleting one needs the
 * name: the store remembers the name of every token it queued (`rowNames`) until the entry is
 * deleted or its session ends. Only this store deletes its own entries, and it always queued them
 * first; an entry it has forgotten dies with its session.
 *
 * Every script is checked against the epoch the store opened (redis-scripts.ts, "Epoch check").
 * When one finds another epoch, or none, the data was lost: the store records the loss (`recover`:
 * a new layout, or the one another lockd made, with the time this store last saw its data
 * intact), logs it at error level, counts it (`dataLossesDetected`), and repeats the call once in
 * the epoch now in force. Sessions and entries of the lost data are gone there, so the next
 * renewal, queue or guarded write of a lease of before finds it lost.
 */
export class RedisStore implements RowStore {
  lastFailure: string | undefined;
  dataLossesDetected = 0;
  private readonly rowNames = new Map<bigint, { name: string; session: string; member: string }>();
  private epoch: string;
  /** Epoch ms when a checked call last came back: the data of `epoch` was intact then. */
  private aliveAt = Date.now();
  private recovering: Promise<void> | undefined;

  constructor(
    private readonly keys: RedisKeys,
    private readonly links: RedisLinks,
    private readonly deadlines: RedisDeadlines,
    readonly changes: PushFeed,
    private readonly reaper: SilenceReaper,
    private readonly epochs: RedisEpoch,
  ) {
    this.epoch = epochs.epoch;
  }

  /**
   * The loss recorded in the meta, once it is a TTL old by the server's clock (waiting for the rest
   * of the TTL, then reading again: meanwhile other lockds may report a later `lost_after`).
   */
  async dataLoss(signal?: AbortSignal): Promise<DataLoss | null> {
    for (;;) {
      const reply = this.strings(await this.statement(SCRIPTS.dataLoss, [], [], 'read the data loss record'), 'read the data loss record');
      if (reply.length < 4) return null;
      const [lostEpoch, after, at, now] = reply.map((x, i) => (i === 0 ? x : Number(x))) as [string, number, number, number];
      const waitMs = at + this.epochs.ttlMs - now;
      if (waitMs <= 0) return { epoch: this.epoch, lostEpoch, aliveUntilMs: after, detectedAtMs: at };
      // An abort rejects with the signal's reason (a LeadershipLostError), not with AbortError.
      await sleep(waitMs, undefined, signal ? { signal } : {}).catch((err: unknown) => {
        signal?.throwIfAborted();
        throw err;
      });
    }
  }

  async openSession(id: string, ttlMs: number, info: string): Promise<void> {
    const k = this.keys;
    await this.call(this.links.renew, SCRIPTS.openSession, [k.sess, k.ren, k.exp, k.rtime], [id, String(ttlMs), info], 'open session', this.deadlines.renewMs);
  }

  async renewSession(id: string, ttlMs: number, staleTokens: readonly bigint[]): Promise<boolean> {
    const k = this.keys;
    const keys = [k.sess, k.ren, k.exp, k.rtime];
    const stale: string[] = [];
    for (const token of staleTokens) {
      const row = this.rowNames.get(token);
      if (row === undefined || row.session !== id) continue;
      keys.push(k.queue(row.name), k.queueInfo(row.name));
      stale.push(row.member, String(token));
    }
    const alive = await this.call(this.links.renew, SCRIPTS.renew, keys, [id, String(ttlMs), k.channel, ...stale], 'renew session', this.deadlines.renewMs);
    if (alive === 1) for (const token of staleTokens) this.rowNames.delete(token);
    return alive === 1;
  }

  async deleteSession(id: string): Promise<void> {
    const k = this.keys;
    await this.statement(SCRIPTS.endSession, [k.sess, k.ren, k.exp, k.rtime], [id, k.channel], 'end session');
    for (const [token, row] of this.rowNames) if (row.session === id) this.rowNames.delete(token);
  }

  async insertHolder(session: string, name: string, hold: string, info: string | null, onlyIfFree: boolean, capacity: number): Promise<bigint | null | undefined> {
    const k = this.keys;
    const member = memberOf(session, hold);
    const reply = await this.statement(
      SCRIPTS.enqueue,
      [k.rev, k.sess, k.queue(name), k.queueInfo(name)],
      [member, info ?? '', info === null ? '0' : '1', onlyIfFree ? '1' : '0', k.channel, String(capacity)],
      'queue a holder',
    );
    if (reply === null) return null;
    const token = this.integer(reply, 'queue a holder');
    if (token === -1n) return undefined;
    this.rowNames.set(token, { name, session, member });
    return token;
  }

  /**
   * Redlock phase 1 (redlock-tokens.ts): this primary's token counter, its time in µs, whether
   * `session` is alive here, and the token its entry for (`name`, `hold`) has here, if any.
   */
  async readToken(session: string, name: string, hold: string): Promise<{ counter: bigint; micros: bigint; alive: boolean; mine: bigint | undefined }> {
    const k = this.keys;
    const reply = await this.statement(SCRIPTS.tokenRead, [k.rev, k.sess, k.queue(name)], [memberOf(session, hold)], 'read the token counter');
    const [counter, micros, alive, mine] = Array.isArray(reply) ? (reply as unknown[]) : [];
    return { counter: this.integer(counter, 'read the token counter'), micros: this.integer(micros, 'read the token counter'), alive: alive === 1, mine: mine === '' ? undefined : this.integer(mine, 'read the token counter') };
  }

  /**
   * Redlock phase 2: queues (`session`, `name`, `hold`) at `token` only if this primary's counter is
   * below it (compare-and-set; see `enqueueAt` in redis-scripts.ts). 'ok' (remembered for
   * `deleteHolder` and stale deletion), 'behind', 'full' (only-if-free) or 'gone' (no session).
   */
  async insertHolderAt(session: string, name: string, hold: string, info: string | null, onlyIfFree: boolean, capacity: number, token: bigint): Promise<'ok' | 'behind' | 'full' | 'gone'> {
    const k = this.keys;
    const member = memberOf(session, hold);
    const reply = await this.statement(
      SCRIPTS.enqueueAt,
      [k.rev, k.sess, k.queue(name), k.queueInfo(name)],
      [member, info ?? '', info === null ? '0' : '1', onlyIfFree ? '1' : '0', k.channel, String(capacity), String(token)],
      'queue a holder at a token',
    );
    if (reply === 'ok') this.rowNames.set(token, { name, session, member });
    if (reply === 'ok' || reply === 'behind' || reply === 'full') return reply;
    if (reply === '-1') return 'gone';
    throw this.failed(new BackendStorageError(`redis backend: queue a holder at a token: unexpected answer "${String(reply)}"`));
  }

  /** Remembers an entry found already queued at `token` (a retried Redlock insert adopts it). */
  adoptHolder(session: string, name: string, hold: string, token: bigint): void {
    this.rowNames.set(token, { name, session, member: memberOf(session, hold) });
  }

  /** Redlock turn: whether row `token` of `name` is here, and the other live members ahead of it. */
  async turnAhead(name: string, token: bigint): Promise<{ present: boolean; ahead: string[] }> {
    const row = this.rowNames.get(token);
    const reply = await this.statement(SCRIPTS.turnAhead, [this.keys.sess, this.keys.queue(name)], [row?.member ?? '', String(token)], 'look at a queue');
    const [present, ...ahead] = Array.isArray(reply) ? (reply as unknown[]) : [];
    return { present: present === 1, ahead: ahead.map(String) };
  }

  async deleteHolder(session: string, token: bigint): Promise<void> {
    const row = this.rowNames.get(token);
    // Not queued through this store (or already deleted): nothing of ours to delete.
    if (row === undefined || row.session !== session) return;
    const k = this.keys;
    await this.statement(SCRIPTS.release, [k.queue(row.name), k.queueInfo(row.name)], [row.member, String(token), k.channel], 'release a holder');
    this.rowNames.delete(token);
  }

  async turn(name: string, token: bigint, capacity: number): Promise<Turn> {
    const row = this.rowNames.get(token);
    const reply = await this.statement(SCRIPTS.turn, [this.keys.sess, this.keys.queue(name)], [row?.member ?? '', String(token)], 'look at a queue');
    const [present, ahead] = Array.isArray(reply) ? reply : [];
    // A dead holder ahead is reaped by the reaper, whose message (or the feed's fallback) wakes us.
    return { present: present === 1, holder: present === 1 && typeof ahead === 'number' && ahead < capacity, wakeAt: Infinity };
  }

  async liveRows(name: string): Promise<LiveRow[]> {
    const k = this.keys;
    const flat = this.strings(await this.statement(SCRIPTS.liveRows, [k.sess, k.exp, k.queue(name), k.queueInfo(name)], [], 'read a queue'), 'read a queue');
    const rows: LiveRow[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const info = flat[i + 1] as string;
      rows.push({ token: BigInt(flat[i] as string), info: info === '' ? null : info.slice(1), remainingMs: Number(flat[i + 2]) });
    }
    return rows;
  }

  /**
   * Finds the queues of the names under `prefix` with SCAN (a listing for operators, not a
   * contract hot path: it walks the keyspace in pages), then reads each like `liveRows`.
   */
  async rowsUnder(prefix: string): Promise<{ name: string; token: bigint; info: string | null }[]> {
    const base = this.keys.queue('');
    const pattern = `${globEscape(base + prefix)}*`;
    const names = new Set<string>();
    let cursor = '0';
    do {
      const reply = await this.command(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'], 'list the queues');
      const [next, keys] = Array.isArray(reply) ? (reply as [unknown, unknown]) : [];
      if (typeof next !== 'string' || !Array.isArray(keys)) throw this.failed(new BackendStorageError('redis backend: list the queues: unexpected answer'));
      for (const key of keys) if (typeof key === 'string') names.add(key.slice(base.length));
      cursor = next;
    } while (cursor !== '0');
    const rows: { name: string; token: bigint; info: string | null }[] = [];
    for (const name of [...names].sort()) {
      for (const row of await this.liveRows(name)) rows.push({ name, token: row.token, info: row.info });
    }
    return rows;
  }

  async guardedPut(guards: readonly GuardRow[], key: string, value: string, ifAbsent: boolean): Promise<{ lost: GuardRow } | { written: boolean }> {
    const k = this.keys;
    const reply = await this.statement(
      SCRIPTS.guardedPut,
      [k.sess, k.rev, k.kv, k.kvrev, k.kvidx, ...guards.map((g) => k.queue(g.name))],
      [key, value, ifAbsent ? '1' : '0', k.channel, ...guards.flatMap((g) => [g.session, String(g.token)])],
      `guarded write of ${key}`,
    );
    const result = typeof reply === 'string' ? reply : '';
    if (result === 'ok') return { written: true };
    if (result === 'exists') return { written: false };
    const lost = guards[Number(result.slice('lost:'.length)) - 1];
    if (!result.startsWith('lost:') || lost === undefined) {
      throw this.failed(new BackendStorageError(`redis backend: guarded write of ${key}: unexpected answer "${String(reply)}"`));
    }
    return { lost };
  }

  async guardedPutAll(guards: readonly GuardRow[], entries: readonly { key: string; value: string }[]): Promise<{ lost: GuardRow } | { written: true }> {
    const k = this.keys;
    const reply = await this.statement(
      SCRIPTS.guardedPutAll,
      [k.sess, k.rev, k.kv, k.kvrev, k.kvidx, ...guards.map((g) => k.queue(g.name))],
      [String(guards.length), k.channel, ...guards.flatMap((g) => [g.session, String(g.token)]), ...entries.flatMap((e) => [e.key, e.value])],
      `guarded write of ${entries.length} keys`,
    );
    const result = typeof reply === 'string' ? reply : '';
    if (result === 'ok') return { written: true };
    const lost = guards[Number(result.slice('lost:'.length)) - 1];
    if (!result.startsWith('lost:') || lost === undefined) {
      throw this.failed(new BackendStorageError(`redis backend: guarded write of ${entries.length} keys: unexpected answer "${String(reply)}"`));
    }
    return { lost };
  }

  async put(key: string, value: string): Promise<void> {
    const k = this.keys;
    await this.statement(SCRIPTS.put, [k.rev, k.kv, k.kvrev, k.kvidx], [key, value, k.channel], `write of ${key}`);
  }

  /** Redlock read repair: writes `stored` unless the key has a value of that version or newer (see `putIfNewer`). */
  async putIfNewer(key: string, stored: string): Promise<void> {
    const k = this.keys;
    await this.statement(SCRIPTS.putIfNewer, [k.rev, k.kv, k.kvrev, k.kvidx], [key, stored, k.channel], `repair of ${key}`);
  }

  async get(key: string): Promise<string | undefined> {
    const reply = await this.command(['HGET', this.keys.kv, key], `read of ${key}`);
    return typeof reply === 'string' ? reply : undefined;
  }

  async list(prefix: string): Promise<{ key: string; value: string }[]> {
    const flat = this.strings(await this.statement(SCRIPTS.list, [this.keys.kvidx, this.keys.kv], [prefix], `list of ${prefix}`), `list of ${prefix}`);
    const out: { key: string; value: string }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ key: flat[i] as string, value: flat[i + 1] as string });
    return out;
  }

  async delete(key: string): Promise<void> {
    const k = this.keys;
    await this.statement(SCRIPTS.delete, [k.kv, k.kvrev, k.kvidx], [key, k.channel], `delete of ${key}`);
  }

  async fingerprint(prefix: string): Promise<string> {
    const reply = await this.statement(SCRIPTS.fingerprint, [this.keys.kvidx, this.keys.kvrev], [prefix], `watch of ${prefix}`);
    return String(reply);
  }

  async close(): Promise<void> {
    this.reaper.stop();
    this.changes.stop();
    this.links.renew.close();
    for (const link of this.links.statements) link.close();
  }

  private leastBusy(): RedisLink {
    return this.links.statements.reduce((best, l) => (l.inFlight < best.inFlight ? l : best));
  }

  private statement(script: LuaScript, keys: readonly string[], args: readonly string[], what: string): Promise<unknown> {
    return this.call(this.leastBusy(), script, keys, args, what, this.deadlines.statementMs);
  }

  private async command(args: string[], what: string): Promise<unknown> {
    try {
      const reply = await this.leastBusy().call(args, this.deadlines.statementMs, what);
      this.lastFailure = undefined;
      return reply;
    } catch (err) {
      throw this.failed(err as LockdError);
    }
  }

  /** Runs `script` in the current epoch; after a loss found by the epoch check, records it and runs it once more. */
  private async call(link: RedisLink, script: LuaScript, keys: readonly string[], args: readonly string[], what: string, deadlineMs: number): Promise<unknown> {
    try {
      let reply: unknown;
      try {
        reply = await this.checked(link, script, keys, args, what, deadlineMs);
      } catch (err) {
        if (!(err instanceof EpochMismatchError)) throw err;
        // Found the epoch another call of this store has moved to already: just repeat in it.
        if (err.found !== this.epoch || err.found === '') await this.recover(link, deadlineMs);
        reply = await this.checked(link, script, keys, args, what, deadlineMs);
      }
      this.lastFailure = undefined;
      return reply;
    } catch (err) {
      throw this.failed(err as LockdError);
    }
  }

  private async checked(link: RedisLink, script: LuaScript, keys: readonly string[], args: readonly string[], what: string, deadlineMs: number): Promise<unknown> {
    const epoch = this.epoch;
    const reply = await link.script(script, [this.keys.meta, ...keys], [epoch, ...args], deadlineMs, what);
    if (epoch === this.epoch) this.aliveAt = Date.now();
    return reply;
  }

  /** Records the loss of the current epoch's data (once, however many calls found it) and moves to the epoch in force. */
  private recover(link: RedisLink, deadlineMs: number): Promise<void> {
    this.recovering ??= this.recoverOnce(link, deadlineMs).finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  private async recoverOnce(link: RedisLink, deadlineMs: number): Promise<void> {
    if (this.epochs.onMismatch === 'adopt') return this.adoptEpoch(link, deadlineMs);
    const { format, version, logger } = this.epochs;
    const lost = this.epoch;
    const aliveAt = this.aliveAt;
    const reply = await link.script(SCRIPTS.recover, [this.keys.meta], [format, version, lost, randomUUID(), String(aliveAt)], deadlineMs, 'record a loss of the data');
    const [epoch, how] = Array.isArray(reply) ? (reply as unknown[]).map(String) : [];
    if (epoch === undefined || how === undefined || epoch === '') {
      throw new BackendStorageError(`redis backend: ${this.keys.meta} holds ${String(how ?? reply)} after the data was lost, not lockd format version ${version}; is another program (or a newer lockd) using these keys?`);
    }
    if (epoch === lost) return;
    this.epoch = epoch;
    this.aliveAt = Date.now();
    this.dataLossesDetected++;
    logger.error(
      { lostEpoch: lost, epoch, aliveUntil: new Date(aliveAt).toISOString(), how },
      'redis: data loss: the server lost lockd\'s data (it restarted without persistence, or lost its AOF/RDB); every session, lock, run record and job state is gone; the slots since are recorded missed (backend_data_loss), not caught up',
    );
  }

  /** Takes the epoch in force on this server (`init` makes one when the meta is gone); see `RedisEpoch.onMismatch`. */
  private async adoptEpoch(link: RedisLink, deadlineMs: number): Promise<void> {
    const { format, version, logger } = this.epochs;
    const answer = String(await link.script(SCRIPTS.init, [this.keys.meta], [format, version, version, randomUUID()], deadlineMs, 'adopt the epoch in force'));
    if (!answer.startsWith('epoch:')) {
      throw new BackendStorageError(`redis backend: ${this.keys.meta} holds ${answer}, not lockd format version ${version}; is another program (or a newer lockd) using these keys?`);
    }
    const epoch = answer.slice('epoch:'.length);
    if (epoch !== this.epoch) logger.info({ epoch, was: this.epoch }, 'redis redlock: this primary\'s layout changed (restarted without its data, or not reachable at open); it votes again once its boot marker is a TTL old');
    this.epoch = epoch;
  }

  /** A token or count the scripts return as a decimal string. */
  private integer(reply: unknown, what: string): bigint {
    if (typeof reply === 'string' && /^-?\d+$/.test(reply)) return BigInt(reply);
    throw this.failed(new BackendStorageError(`redis backend: ${what}: unexpected answer "${String(reply)}"`));
  }

  private strings(reply: unknown, what: string): string[] {
    if (Array.isArray(reply) && reply.every((x) => typeof x === 'string')) return reply as string[];
    throw this.failed(new BackendStorageError(`redis backend: ${what}: unexpected answer`));
  }

  private failed(err: LockdError): LockdError {
    this.lastFailure = err.message;
    return err;
  }
}

/** A queue member: the session's id, or `sid#<hold>` for each seat hold of a session. */
function memberOf(session: string, hold: string): string {
  return hold === '' ? session : `${session}#${hold}`;
}

/** `text` as a literal in a SCAN MATCH pattern. */
function globEscape(text: string): string {
  return text.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}
