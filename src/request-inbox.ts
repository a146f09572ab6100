import type { Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';
import type { Backend, KeyValue, Lease } from './election/backend.js';
import {
  ANSWER_TTL_MS,
  TRIGGER_COALESCE_MS,
  isClaim,
  lastManualKey,
  parseLastManual,
  parseReply,
  parseRequestKey,
  requestDoneKey,
  requestsPrefix,
  resignRequestKey,
  triggerRequestKey,
  type LastManualRun,
  type RequestAnswer,
  type RequestClaim,
  type RequestReply,
} from './requests.js';

/** After a drain failed (backend unreachable), the next attempt comes this much later. */
const RETRY_MS = 1000;

export interface RequestHandlers {
  /** Runs the job now; resolves with the run id, or null when it was not run (e.g. overlap). */
  trigger(job: string): Promise<string | null>;
  resign(): void;
}

export interface RequestInboxOptions {
  backend: Backend;
  /** This term's leader lease: every write of the inbox is guarded by it. */
  leader: Lease;
  handlers: RequestHandlers;
  logger: Logger;
  node: string;
  /** Wall clock for answer ages and coalescing, and the retry timer. Default: the system's. */
  clock?: Clock;
}

/**
 * The leader's side of the request protocol (src/requests.ts): watches `requests/`, serves every
 * request that has no answer yet, and deletes answered requests and stale answers.
 *
 * Guarantees, across any number of leader changes, as long as a leader eventually drains:
 * - every request is answered (or withdrawn by its caller); none is deleted unanswered;
 * - a trigger runs at most once: it is claimed (`done:<id>`, guarded, if absent) before it runs,
 *   and a claimed request is never run again. A claim whose run is recorded in `manual/<job>` is
 *   answered from it; one whose leader lost leadership before recording it is answered as
 *   `uncertain` (it may have run; `lockd history` tells);
 * - coalescing is decided from `manual/<job>`, so it holds whichever leader served the first run.
 *   It uses wall clocks of different replicas: skew between them widens or narrows the window.
 *
 * Every write is a `guardedPut` on the leader lease, so a deposed leader writes nothing. Deletes
 * are unguarded (the contract has no guarded delete). A deposed leader that still drains deletes
 * only what any leader would: request keys whose answer it has read back from the store, and
 * answers older than `ANSWER_TTL_MS` whose request is gone (ids are never reused, so neither can
 * come back). It cannot delete an unanswered request.
 *
 * Failure: a drain that fails (backend unreachable) is logged and retried after `RETRY_MS` while
 * the inbox runs and the lease holds; a claim written before the failure makes the retry answer
 * instead of run again. Serving is serial: a trigger that waits for its job lock (`overlap:
 * queue`) holds up the requests behind it.
 */
export class RequestInbox {
  readonly #o: RequestInboxOptions;
  readonly #clock: Clock;
  readonly #leaderToken: string;
  #unwatch: (() => void) | undefined;
  #cancelRetry: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(opts: RequestInboxOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#leaderToken = opts.leader.token.toString();
  }

  /** Starts watching `requests/` and drains once at once (requests left by earlier leaders). */
  start(): void {
    this.#unwatch = this.#o.backend.watchPrefix(requestsPrefix, () => void this.drain());
    void this.drain();
  }

  /** Stops watching and retrying. A drain in progress finishes (its writes fail once the lease is gone). */
  stop(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#cancelRetry?.();
    this.#cancelRetry = undefined;
  }

  /**
   * Serves everything pending now. While a drain runs, asks it to go round once more and resolves
   * when it ends. Never rejects: failures are logged (and retried, see the class comment).
   */
  drain(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#loop().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#again = false;
        await this.#serve(await this.#o.backend.list(requestsPrefix));
      } while (this.#again && this.#unwatch !== undefined);
    } catch (err) {
      this.#o.logger.warn({ err: describe(err) }, 'could not serve requests');
      if (this.#unwatch !== undefined && this.#o.leader.isValid()) {
        this.#cancelRetry?.();
        this.#cancelRetry = this.#clock.setTimer(RETRY_MS, () => void this.drain());
      }
    }
  }

  /** One pass over a listing of `requests/`: each job's triggers, stale answers, then resigns. */
  async #serve(listing: KeyValue[]): Promise<void> {
    const replies = new Map<string, RequestReply>();
    const triggers = new Map<string, string[]>();
    const resigns: string[] = [];
    for (const { key, value } of listing) {
      const parsed = parseRequestKey(key);
      if (parsed?.kind === 'done') replies.set(parsed.id, parseReply(value));
      else if (parsed?.kind === 'resign') resigns.push(parsed.id);
      else if (parsed?.kind === 'trigger') triggers.set(parsed.job, [...(triggers.get(parsed.job) ?? []), parsed.id]);
    }
    for (const [job, ids] of triggers) await this.#serveTriggers(job, ids, replies);
    const pending = new Set([...resigns, ...[...triggers.values()].flat()]);
    await this.#removeStale(replies, pending);
    await this.#serveResigns(resigns, replies);
  }

  async #serveTriggers(job: string, ids: string[], replies: Map<string, RequestReply>): Promise<void> {
    const requestKey = (id: string): string => triggerRequestKey(job, id);
    // Answered by an earlier drain (perhaps another leader's) that did not get to the delete.
    await this.#forget(ids.filter((id) => isAnswered(replies.get(id))).map(requestKey));
    const claimed = ids.filter((id) => isClaimOf(replies.get(id)));
    const fresh = ids.filter((id) => !replies.has(id));
    if (claimed.length === 0 && fresh.length === 0) return;
    const last = parseLastManual(await this.#o.backend.get(lastManualKey(job)));

    for (const id of claimed) {
      const claim = replies.get(id) as RequestClaim;
      const answer = last?.requests.includes(id) ? this.#answerFrom(last) : this.#uncertain(job, claim);
      this.#o.logger.info({ requests: [id], job, answer }, 'claimed trigger answered');
      await this.#answer([id], requestKey, answer, { ifAbsent: false });
    }
    if (fresh.length === 0) return;
    if (last?.runId != null && Math.abs(this.#clock.now() - Date.parse(last.at)) < TRIGGER_COALESCE_MS) {
      const answer: RequestAnswer = { ...this.#answerFrom(last), message: 'coalesced with the run just triggered' };
      this.#o.logger.info({ requests: fresh, job, answer }, 'trigger handled');
      await this.#answer(fresh, requestKey, answer, { ifAbsent: true });
      return;
    }
    await this.#run(job, fresh, requestKey);
  }

  /** Claims `ids`, runs the job once for those claimed, records the run, answers them. */
  async #run(job: string, ids: string[], requestKey: (id: string) => string): Promise<void> {
    const claim: RequestClaim = { state: 'serving', node: this.#o.node, leaderToken: this.#leaderToken, at: this.#now() };
    const written = await Promise.all(ids.map((id) => this.#put(requestDoneKey(id), claim, { ifAbsent: true })));
    // A claim that found a reply already there is served by whoever wrote it (next drain).
    const taken = ids.filter((_, i) => written[i]);
    if (taken.length === 0) return;
    let runId: string | null = null;
    let message: string | undefined;
    try {
      runId = await this.#o.handlers.trigger(job);
      if (runId === null) message = 'not run (see lockd history)';
    } catch (err) {
      message = describe(err);
    }
    const last: LastManualRun = { runId, requests: taken, node: this.#o.node, leaderToken: this.#leaderToken, at: this.#now(), ...(message === undefined ? {} : { message }) };
    // Before the answers: a leader that takes over between the two answers the claims from it.
    await this.#put(lastManualKey(job), last, { ifAbsent: false });
    const answer = this.#answerFrom(last);
    this.#o.logger.info({ requests: taken, job, answer }, 'trigger handled');
    await this.#answer(taken, requestKey, answer, { ifAbsent: false });
  }

  /** Resigns are answered before acting, so a new leader finds them answered and does not resign again. */
  async #serveResigns(ids: string[], replies: Map<string, RequestReply>): Promise<void> {
    await this.#forget(ids.filter((id) => replies.has(id)).map(resignRequestKey));
    const fresh = ids.filter((id) => !replies.has(id));
    if (fresh.length === 0) return;
    this.#o.logger.info({ requests: fresh }, 'resign requested');
    await this.#answer(fresh, resignRequestKey, { ok: true, node: this.#o.node }, { ifAbsent: true });
    this.#o.handlers.resign();
  }

  /** Deletes answers older than `ANSWER_TTL_MS` (or of unknown age) whose request is gone. */
  async #removeStale(replies: Map<string, RequestReply>, pending: Set<string>): Promise<void> {
    const now = this.#clock.now();
    const stale = [...replies].filter(([id, reply]) => !pending.has(id) && !(now - Date.parse(reply.at ?? '') <= ANSWER_TTL_MS));
    if (stale.length === 0) return;
    this.#o.logger.debug({ answers: stale.length }, 'removing stale request answers');
    await this.#forget(stale.map(([id]) => requestDoneKey(id)));
  }

  /** Writes `answer` to each id's `done:` key, then deletes the request keys written to. */
  async #answer(ids: string[], requestKey: (id: string) => string, answer: RequestAnswer, opts: { ifAbsent: boolean }): Promise<void> {
    const stamped: RequestAnswer = { ...answer, state: 'answered', at: this.#now() };
    const written = await Promise.all(ids.map((id) => this.#put(requestDoneKey(id), stamped, opts)));
    await this.#forget(ids.filter((_, i) => written[i]).map(requestKey));
  }

  #answerFrom(last: LastManualRun): RequestAnswer {
    return { ok: last.runId !== null, runId: last.runId, node: last.node, ...(last.message === undefined ? {} : { message: last.message }) };
  }

  #uncertain(job: string, claim: RequestClaim): RequestAnswer {
    return {
      ok: false,
      runId: null,
      node: claim.node,
      uncertain: true,
      message: `taken by ${claim.node} (leader token ${claim.leaderToken}) at ${claim.at}, which stopped leading before it recorded the run: it may have run (see lockd history ${job}); not run again`,
    };
  }

  #put(key: string, value: object, opts: { ifAbsent: boolean }): Promise<boolean> {
    return this.#o.backend.guardedPut(this.#o.leader, key, JSON.stringify(value), opts);
  }

  async #forget(keys: string[]): Promise<void> {
    await Promise.all(keys.map((key) => this.#o.backend.delete(key)));
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }
}

const isAnswered = (reply: RequestReply | undefined): boolean => reply !== undefined && !isClaim(reply);
const isClaimOf = (reply: RequestReply | undefined): boolean => reply !== undefined && isClaim(reply);

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
