import type { RunRecord } from '../scheduler/records.js';

/**
 * How a job stands, judged by its newest run record: `ok` (success), `failing` (failed, timeout,
 * killed, or `unknown` when its leader was lost before recording the outcome), `missed` (its newest
 * slot did not run: missed or skipped), `running`, `neverRun` (no record).
 */
export type JobHealth = 'ok' | 'failing' | 'missed' | 'running' | 'neverRun';

/** The states `lockd status` lists first, in that order. */
export const NEEDS_ATTENTION: readonly JobHealth[] = ['failing', 'missed', 'running'];

/** Names listed in `next.jobs` at most. */
const NEXT_NAMES = 10;

/** The `summary` of `lockd status --json`: counts by `JobHealth` and what runs next. */
export interface StatusSummary {
  total: number;
  ok: number;
  failing: number;
  missed: number;
  running: number;
  neverRun: number;
  /**
   * The earliest next slot among the jobs (ISO-8601 UTC), how many jobs are due then, and the
   * first 10 of them in config order; null when no job has a next slot.
   */
  next: { at: string; count: number; jobs: string[] } | null;
}

/** The health of a job whose newest run record is `last` (null: none). */
export function jobHealth(last: RunRecord | null): JobHealth {
  switch (last?.outcome) {
    case undefined:
      return 'neverRun';
    case 'success':
      return 'ok';
    case 'running':
      return 'running';
    case 'missed':
    case 'skipped':
      return 'missed';
    default:
      return 'failing';
  }
}

/**
 * Counts `jobs` by health and finds the earliest next slot. Pure. `next` values are null or
 * `Date.prototype.toISOString()` output, whose string order is time order (years 0 to 9999).
 */
export function summarize(jobs: readonly { name: string; next: string | null; last: RunRecord | null }[]): StatusSummary {
  const summary: StatusSummary = { total: jobs.length, ok: 0, failing: 0, missed: 0, running: 0, neverRun: 0, next: null };
  let earliest: string | undefined;
  let due: string[] = [];
  for (const job of jobs) {
    summary[jobHealth(job.last)] += 1;
    if (job.next === null) continue;
    if (earliest === undefined || job.next < earliest) {
      earliest = job.next;
      due = [job.name];
    } else if (job.next === earliest) {
      due.push(job.name);
    }
  }
  if (earliest !== undefined) summary.next = { at: earliest, count: due.length, jobs: due.slice(0, NEXT_NAMES) };
  return summary;
}
