import type { Backend, CandidateInfo, ElectionView, KeyValue, LockView } from '../election/backend.js';
import type { JobConfig, LockdConfig } from '../config/types.js';
import { clocksPrefix, parsePublished } from '../clock-peers.js';
import { jobStateKey, runsPrefix, slotOfRunKey, type JobState, type RunRecord } from '../scheduler/records.js';
import { nextSlots } from '../scheduler/scheduler.js';
import { mapLimit } from './map-limit.js';
import { summarize, type StatusSummary } from './status-summary.js';

/** One job in `lockd status --json` and `/status`. */
export interface JobStatus {
  name: string;
  schedule: string;
  timezone: string;
  /** ISO-8601 UTC of the next slot, or null when the expression has none. */
  next: string | null;
  /** The newest run record, or null when the job never ran. */
  last: RunRecord | null;
  missedTotal: number;
  skippedTotal: number;
  /** `/status?recent=N` only: the newest N runs, newest first, without their output. */
  recent?: RecentRun[];
}

/** A run in a job's timeline. */
export interface RecentRun {
  scheduledAt: string;
  outcome: RunRecord['outcome'];
  token?: string;
  durationMs?: number;
  reason?: string;
}

/** What every status answer starts with. Tokens are decimal strings. */
interface StatusHeader {
  cluster: string;
  backend: string;
  /** `leaseRemainingMs` when the backend can tell (see `ElectionView`). */
  leader: (CandidateInfo & { token: string; ttlMs: number; leaseRemainingMs?: number }) | null;
  candidates: CandidateInfo[];
  /**
   * Each live candidate's wall clock minus the reader's (ms; positive: ahead), from what it last
   * published (up to a second old): clock steps and skew between replicas show here.
   */
  clocks: Array<{ node: string; offsetMs: number }>;
  /**
   * The storage budget and the most the configured jobs keep in the backend, estimated from the
   * reader's config (`LockdConfig.storage`), not measured in the store.
   */
  storage: { budgetBytes: number; estimateBytes: number };
  /** Every held lock (job locks, `lockd lock`, library locks) and seat, by name; see `Backend.locks`. */
  locks: Array<{ name: string; token: string; holder: CandidateInfo | null; waiting: number; seats?: number }>;
}

/** The shape of `lockd status --json` (DESIGN §8). */
export interface StatusSnapshot extends StatusHeader {
  /** Over `jobs`. */
  summary: StatusSummary;
  jobs: JobStatus[];
  /** ISO-8601 UTC time this snapshot was taken. */
  at: string;
}

/**
 * One page of `/status`: the configured jobs `[offset, offset + limit)` in config order, and
 * `total`, the number of configured jobs. No summary: it would need every job's newest record.
 */
export interface StatusPage extends StatusHeader {
  total: number;
  offset: number;
  limit: number;
  jobs: JobStatus[];
  at: string;
}

/** `jobs/`: every job's state is one key under it. */
const STATES_PREFIX = jobStateKey('');
/** Run-record reads in flight at once: enough to hide round trips, few enough to be polite. */
const READS_IN_FLIGHT = 32;

/**
 * Reads who leads and what the jobs did last and do next, straight from the backend (no daemon
 * needed): `opts.jobs` (default every configured job), with a summary over them. Backend calls: `locks`,
 * `observe`, one `list` of every job state, and one `list` per job of its run records (a
 * job's history, `history` records at most); only the newest record of each is parsed. `next` is
 * computed once per distinct (schedule, time zone). Throws `BackendUnavailableError` when the
 * backend cannot be read.
 */
export async function collectStatus(backend: Backend, config: LockdConfig, nowMs: number, opts: { jobs?: readonly JobConfig[] } = {}): Promise<StatusSnapshot> {
  const [view, clocks, locks, jobs] = await Promise.all([
    backend.observe(),
    backend.list(clocksPrefix),
    backend.locks(),
    readJobs(backend, opts.jobs ?? config.jobs, nowMs),
  ]);
  return { ...header(backend, config, view, clocks, locks, nowMs), summary: summarize(jobs), jobs, at: new Date(nowMs).toISOString() };
}

/**
 * `/status?offset=&limit=&recent=`: reads only the page's jobs (see `collectStatus`), with their
 * newest `recent` runs when asked. Throws like it.
 */
export async function collectStatusPage(
  backend: Backend,
  config: LockdConfig,
  nowMs: number,
  page: { offset: number; limit: number; recent?: number },
): Promise<StatusPage> {
  const selected = config.jobs.slice(page.offset, page.offset + page.limit);
  const [view, clocks, locks, jobs] = await Promise.all([
    backend.observe(),
    backend.list(clocksPrefix),
    backend.locks(),
    readJobs(backend, selected, nowMs, page.recent ?? 0),
  ]);
  return { ...header(backend, config, view, clocks, locks, nowMs), total: config.jobs.length, offset: page.offset, limit: page.limit, jobs, at: new Date(nowMs).toISOString() };
}

function header(backend: Backend, config: LockdConfig, view: ElectionView, clocks: KeyValue[], locks: LockView[], nowMs: number): StatusHeader {
  const live = new Set(view.candidates.map((c) => c.node));
  return {
    cluster: config.cluster,
    backend: backend.kind,
    leader: view.leader === null ? null : { ...view.leader, token: view.leader.token.toString(), ttlMs: backend.ttlMs },
    candidates: view.candidates,
    clocks: clocks
      .map((kv) => parsePublished(kv.value))
      .filter((c) => c !== undefined && live.has(c.node))
      .map((c) => ({ node: c!.node, offsetMs: c!.wall - nowMs })),
    storage: config.storage,
    locks: locks.map((l) => ({ name: l.name, token: l.token.toString(), holder: l.holder, waiting: l.waiting, ...(l.seats === undefined ? {} : { seats: l.seats }) })),
  };
}

async function readJobs(backend: Backend, jobs: readonly JobConfig[], nowMs: number, recent = 0): Promise<JobStatus[]> {
  if (jobs.length === 0) return [];
  const [states, newest] = await Promise.all([
    backend.list(STATES_PREFIX),
    // One prefix read per job, not one for all runs/: a single etcd answer is capped (4 MiB by
    // default in grpc-js), which every job's full history would exceed.
    mapLimit(jobs, READS_IN_FLIGHT, (job) => readNewestRuns(backend, job.name, Math.max(1, recent))),
  ]);
  const stateText = new Map(states.map((kv) => [kv.key.slice(STATES_PREFIX.length), kv.value]));
  const next = nextSlotOf(nowMs);
  return jobs.map((job, i) => ({
    name: job.name,
    schedule: job.schedule,
    timezone: job.timezone,
    next: next(job),
    last: newest[i]?.[0] ?? null,
    missedTotal: storedCount(stateText.get(job.name), 'missedTotal'),
    skippedTotal: storedCount(stateText.get(job.name), 'skippedTotal'),
    ...(recent > 0 && { recent: (newest[i] ?? []).map(asRecent) }),
  }));
}

function asRecent(record: RunRecord): RecentRun {
  return {
    scheduledAt: record.scheduledAt,
    outcome: record.outcome,
    ...(record.token === undefined ? {} : { token: record.token }),
    ...(record.durationMs === undefined ? {} : { durationMs: record.durationMs }),
    ...(record.reason === undefined ? {} : { reason: record.reason }),
  };
}

/**
 * The `n` records with the greatest slots under `runs/<job>/`, newest first (ordered by the slot
 * in the key; only those are parsed).
 */
async function readNewestRuns(backend: Backend, job: string, n: number): Promise<RunRecord[]> {
  const prefix = runsPrefix(job);
  // One pass keeping the newest n, newest first: n is small (1 for `lockd status`, at most 20).
  const newest: { slot: number; value: string }[] = [];
  for (const kv of await backend.list(prefix)) {
    const slot = slotOfRunKey(kv.key.slice(prefix.length));
    if (newest.length === n && slot <= newest[n - 1]!.slot) continue;
    const at = newest.findIndex((r) => r.slot < slot);
    newest.splice(at === -1 ? newest.length : at, 0, { slot, value: kv.value });
    if (newest.length > n) newest.pop();
  }
  return newest.map((r) => JSON.parse(r.value) as RunRecord);
}

function storedCount(stateText: string | undefined, field: 'missedTotal' | 'skippedTotal'): number {
  return stateText === undefined ? 0 : ((JSON.parse(stateText) as JobState)[field] ?? 0);
}

/** `next` of a job, ISO-8601 UTC or null, cached per (schedule, time zone): cron-parser costs 0.1–0.5 ms a call. */
function nextSlotOf(nowMs: number): (job: JobConfig) => string | null {
  const cache = new Map<string, string | null>();
  return (job) => {
    const key = `${job.timezone}\n${job.schedule}`;
    let next = cache.get(key);
    if (next === undefined) {
      const [slot] = nextSlots(job, nowMs, 1);
      next = slot === undefined ? null : new Date(slot).toISOString();
      cache.set(key, next);
    }
    return next;
  };
}
