/**
 * The request protocol of `lockd trigger` and `lockd resign`, which may run on any machine: each
 * invocation writes a key of its own under `requests/`, and the leader answers it under
 * `requests/done:<id>` (the leader's side is src/request-inbox.ts, the caller's
 * src/cli/request-reply.ts).
 *
 * Lifecycle of a request `<id>`, in the order the writes happen:
 * 1. the caller writes the request key (unguarded `put`);
 * 2. a trigger: the leader writes a `RequestClaim` to `done:<id>` (guarded, if absent) before it
 *    runs anything, so a request is run by at most one leader;
 * 3. the leader writes the `RequestAnswer` to `done:<id>` (guarded), then deletes the request key;
 * 4. the caller reads the answer, deletes the request key (in case the leader did not get to it),
 *    then the answer. Answers nobody deleted are removed by the leader after `ANSWER_TTL_MS`.
 *
 * A request key is only ever deleted once `done:<id>` holds an answer (or by its caller, which
 * withdraws it), so a request survives a change of leader until some leader answers it.
 */

/**
 * Trigger requests for one job that arrive together, or within this many ms (wall clock, as
 * stored in `LastManualRun.at`) of the manual run they would repeat starting, are served by that
 * ONE run and all get its id: a trigger issued twice quickly runs once, whichever leader serves it.
 */
export const TRIGGER_COALESCE_MS = 5000;
/** Answers older than this (wall clock) whose request is gone are deleted by the leader's drain. */
export const ANSWER_TTL_MS = 60_000;

// Flat keys (one level below `requests/`, fields split by ':', which job names cannot contain),
// since a ZooKeeper `list` sees direct children only.
export const requestsPrefix = 'requests/';
export const triggerRequestKey = (job: string, id: string): string => `requests/trigger:${job}:${id}`;
export const resignRequestKey = (id: string): string => `requests/resign:${id}`;
export const requestDoneKey = (id: string): string => `requests/done:${id}`;
/** One per job ever triggered, outside `requests/` so a drain does not list them. */
export const lastManualKey = (job: string): string => `manual/${job}`;

/** What the caller writes to its request key. */
export interface RequestBody {
  id: string;
  /** ISO-8601 UTC time of the request. */
  at: string;
}

/** A leader has taken the request and is serving it; the caller keeps waiting. */
export interface RequestClaim {
  state: 'serving';
  node: string;
  /** The claiming leader's election token (decimal). */
  leaderToken: string;
  /** ISO-8601 UTC time of the claim (the claiming leader's wall clock). */
  at: string;
}

/** The leader's answer; the caller stops waiting. */
export interface RequestAnswer {
  /** Absent in answers written by lockd versions before claims existed. */
  state?: 'answered';
  ok: boolean;
  runId?: string | null;
  node: string;
  message?: string;
  /**
   * The request was claimed by a leader that lost leadership before recording what it did: the
   * job may or may not have run (`lockd history` tells), and it is not run again.
   */
  uncertain?: boolean;
  /** ISO-8601 UTC time the answer was written (the leader's wall clock). */
  at?: string;
}

export type RequestReply = RequestClaim | RequestAnswer;

/**
 * `manual/<job>`: the latest batch of trigger requests a leader ran for the job, written (guarded)
 * after the run was handed to the scheduler and before the answers. Coalescing is decided from it,
 * and a new leader answers claims of that batch from it.
 */
export interface LastManualRun {
  /** The run's id, or null when it was not run. */
  runId: string | null;
  /** Why it was not run. */
  message?: string;
  /** Ids of the requests this run serves. */
  requests: string[];
  node: string;
  leaderToken: string;
  /** ISO-8601 UTC time the run was started (or refused). */
  at: string;
}

/** A key under `requests/`, by kind; undefined for keys this version does not know. */
export type RequestKey = { kind: 'trigger'; job: string; id: string } | { kind: 'resign'; id: string } | { kind: 'done'; id: string };

/** Parses a key as listed under `requestsPrefix`. Never throws. */
export function parseRequestKey(key: string): RequestKey | undefined {
  if (!key.startsWith(requestsPrefix)) return undefined;
  const [kind, ...fields] = key.slice(requestsPrefix.length).split(':');
  if (kind === 'trigger' && fields.length === 2) return { kind, job: fields[0]!, id: fields[1]! };
  if ((kind === 'resign' || kind === 'done') && fields.length === 1) return { kind, id: fields[0]! };
  return undefined;
}

/**
 * Parses a `done:<id>` value. Anything that is not a claim counts as an answer, including a value
 * that is not JSON (something was written, so the request must not be run again): it then has no
 * `at`, and is as stale as an answer can be.
 */
export function parseReply(value: string): RequestReply {
  try {
    const reply = JSON.parse(value) as RequestReply | null;
    if (reply !== null && typeof reply === 'object') return reply;
  } catch {
    // fall through: not JSON
  }
  return { ok: false, node: '', message: 'unreadable answer' };
}

/** True when `reply` is a claim (the caller keeps waiting). */
export const isClaim = (reply: RequestReply): reply is RequestClaim => reply.state === 'serving';

/** Parses a `manual/<job>` value; undefined when absent or unreadable (then nothing coalesces). */
export function parseLastManual(value: string | undefined): LastManualRun | undefined {
  if (value === undefined) return undefined;
  try {
    const last = JSON.parse(value) as LastManualRun | null;
    return last !== null && typeof last === 'object' && Array.isArray(last.requests) ? last : undefined;
  } catch {
    return undefined;
  }
}
