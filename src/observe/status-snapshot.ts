import type { Backend, CandidateInfo } from '../election/backend.js';
import type { LockdConfig } from '../config/types.js';
import { jobStateKey, runsPrefix, type JobState, type RunRecord } from '../scheduler/records.js';
import { nextSlots } from '../scheduler/scheduler.js';

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
}

/** The shape of `lockd status --json` (DESIGN §8). Tokens are decimal strings. */
export interface StatusSnapshot {
  cluster: string;
  backend: string;
  /** `leaseRemainingMs` when the backend can tell (see `ElectionView`). */
  leader: (CandidateInfo & { token: string; ttlMs: number; leaseRemainingMs?: number }) | null;
  candidates: CandidateInfo[];
  jobs: JobStatus[];
  /** ISO-8601 UTC time this snapshot was taken. */
  at: string;
}

/**
 * Reads who leads and what every configured job did last and does next, straight from the
 * backend (no daemon needed). Throws `BackendUnavailableError` when the backend cannot be read.
 */
export async function collectStatus(backend: Backend, config: LockdConfig, nowMs: number): Promise<StatusSnapshot> {
  const view = await backend.observe();
  const jobs = await Promise.all(
    config.jobs.map(async (job): Promise<JobStatus> => {
      const [stateText, runs] = await Promise.all([backend.get(jobStateKey(job.name)), backend.list(runsPrefix(job.name))]);
      const state = stateText === undefined ? undefined : (JSON.parse(stateText) as JobState);
      const newest = newestRun(runs.map((kv) => kv.value));
      const [next] = nextSlots(job, nowMs, 1);
      return {
        name: job.name,
        schedule: job.schedule,
        timezone: job.timezone,
        next: next === undefined ? null : new Date(next).toISOString(),
        last: newest,
        missedTotal: state?.missedTotal ?? 0,
      };
    }),
  );
  return {
    cluster: config.cluster,
    backend: backend.kind,
    leader: view.leader === null ? null : { ...view.leader, token: view.leader.token.toString(), ttlMs: backend.ttlMs },
    candidates: view.candidates,
    jobs,
    at: new Date(nowMs).toISOString(),
  };
}

/** The record with the greatest slot among JSON run records (keys sort as strings, slots as numbers). */
export function newestRun(values: string[]): RunRecord | null {
  let newest: RunRecord | null = null;
  for (const value of values) {
    const record = JSON.parse(value) as RunRecord;
    if (newest === null || record.slot > newest.slot) newest = record;
  }
  return newest;
}
