import cronstrue from 'cronstrue';
import type { JobStatus, StatusSnapshot } from '../observe/status-snapshot.js';
import { jobHealth, NEEDS_ATTENTION, type JobHealth } from '../observe/status-summary.js';
import { formatDuration } from '../config/duration.js';
import { formatSize } from '../config/size.js';
import { relative, table } from './format.js';

const paint = (code: number) => (on: boolean, s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
const green = paint(32);
const red = paint(31);
const yellow = paint(33);
const bold = paint(1);

/** A cron expression in plain English ("At 02:00 AM"); the expression itself if it cannot be read. */
export function describeSchedule(expression: string): string {
  try {
    return cronstrue.toString(expression, { use24HourTimeFormat: true, verbose: false });
  } catch {
    return expression;
  }
}

/** Job rows shown without `--all`; also the most jobs shown all at once. */
const ROW_CAP = 20;
/** Names listed per summary line. */
const NAMES_PER_LINE = 5;

export interface RenderOptions {
  /** Every job of the snapshot, in config order (`--all`, `--job`). */
  all?: boolean;
}

/**
 * The human form of `lockd status`: leader and candidates, a summary (jobs by health, which are
 * failing, missed or running, what runs next), then a table: every job when they are at most
 * `ROW_CAP` or `opts.all` is set, else only the jobs that need attention (failing, missed,
 * running, in that order), at most `ROW_CAP`, with a line counting the rest. Pure: `nowMs` fixes
 * every relative time, `color` adds ANSI colours (only when stdout is a TTY).
 */
export function renderStatus(s: StatusSnapshot, nowMs: number, color: boolean, opts: RenderOptions = {}): string {
  const out: string[] = [];
  out.push(`${bold(color, 'cluster')} ${s.cluster}  (backend ${s.backend})`);
  if (s.leader === null) {
    out.push(`${bold(color, 'leader')}  ${red(color, 'none')} — no replica leads; scheduled slots are not running`);
  } else {
    const l = s.leader;
    out.push(
      `${bold(color, 'leader')}  ${green(color, l.node)}  host ${l.host} pid ${l.pid}  token ${l.token}  ` +
        `since ${l.since} (${relative(Date.parse(l.since), nowMs)})  ` +
        (l.leaseRemainingMs === undefined ? `lease ttl ${formatDuration(l.ttlMs)}` : `lease ${formatDuration(Math.round(l.leaseRemainingMs / 1000) * 1000)} left of ${formatDuration(l.ttlMs)}`),
    );
  }
  const waiting = s.candidates.filter((c) => s.leader === null || c.node !== s.leader.node || c.pid !== s.leader.pid);
  out.push(`${bold(color, 'waiting')} ${waiting.length === 0 ? '-' : waiting.map((c) => `${c.node} (${c.host}:${c.pid})`).join(', ')}`);
  // A clock more than a second off (a step, or skew between machines) is worth a line.
  const off = s.clocks.filter((c) => Math.abs(c.offsetMs) >= 2000);
  if (off.length > 0) out.push(`${bold(color, 'clocks')}  ${off.map((c) => `${c.node} ${c.offsetMs > 0 ? '+' : '-'}${formatDuration(Math.abs(c.offsetMs))}`).join(', ')} (against this machine)`);
  if (s.jobs.length === 0) {
    out.push('', 'no jobs configured');
    return `${out.join('\n')}\n`;
  }
  const byHealth = groupByHealth(s.jobs);
  out.push(...summaryLines(s, byHealth, nowMs, color), storageLine(s, color), '');
  const attention = NEEDS_ATTENTION.flatMap((h) => byHealth.get(h) ?? []);
  const showAll = opts.all === true || s.jobs.length <= ROW_CAP;
  const shown = showAll ? s.jobs : attention.slice(0, ROW_CAP);
  if (shown.length === 0) {
    out.push(`no job needs attention: use --all to list all ${s.jobs.length}`);
    return `${out.join('\n')}\n`;
  }
  out.push(table([['JOB', 'SCHEDULE', 'TZ', 'LAST', 'NEXT', 'MISSED'], ...shown.map((job) => jobRow(job, nowMs, color))]));
  if (!showAll && attention.length > shown.length) out.push(`… ${attention.length - shown.length} more need attention: use --all, or --job GLOB`);
  return `${out.join('\n')}\n`;
}

/** The storage estimate against the budget; red when over it (see `lockd validate`). */
function storageLine(s: StatusSnapshot, color: boolean): string {
  const { budgetBytes, estimateBytes } = s.storage;
  const text = `at most ${formatSize(estimateBytes)} of the ${formatSize(budgetBytes)} storage_budget (run records and job states, estimated from the config)`;
  return `${bold(color, 'storage')} ${estimateBytes > budgetBytes ? red(color, text) : text}`;
}

function summaryLines(s: StatusSnapshot, byHealth: Map<JobHealth, JobStatus[]>, nowMs: number, color: boolean): string[] {
  const { summary } = s;
  const counts = [
    `${summary.ok} ok`,
    summary.failing > 0 ? red(color, `${summary.failing} failing`) : '0 failing',
    summary.missed > 0 ? red(color, `${summary.missed} missed`) : '0 missed',
    `${summary.running} running`,
    `${summary.neverRun} never run`,
  ];
  const lines = [`${bold(color, 'jobs')}    ${summary.total}: ${counts.join(', ')}`];
  for (const health of NEEDS_ATTENTION) {
    const jobs = byHealth.get(health) ?? [];
    if (jobs.length > 0) lines.push(`${bold(color, health.padEnd(7))} ${names(jobs.map((j) => j.name), jobs.length)}`);
  }
  if (summary.next !== null) {
    const { at, count, jobs } = summary.next;
    lines.push(`${bold(color, 'next')}    ${at} (${relative(Date.parse(at), nowMs)}): ${names(jobs, count)}`);
  }
  return lines;
}

/** `a, b, c, d, e and 7 more` */
function names(list: readonly string[], count: number): string {
  const listed = list.slice(0, NAMES_PER_LINE);
  return count > listed.length ? `${listed.join(', ')} and ${count - listed.length} more` : listed.join(', ');
}

function groupByHealth(jobs: readonly JobStatus[]): Map<JobHealth, JobStatus[]> {
  const groups = new Map<JobHealth, JobStatus[]>();
  for (const job of jobs) {
    const health = jobHealth(job.last);
    const group = groups.get(health);
    if (group === undefined) groups.set(health, [job]);
    else group.push(job);
  }
  return groups;
}

function jobRow(job: JobStatus, nowMs: number, color: boolean): string[] {
  const last = job.last;
  let lastText = '-';
  if (last !== null) {
    const outcome = last.reason === undefined ? last.outcome : `${last.outcome} (${last.reason})`;
    const painted = last.outcome === 'success' ? green(color, outcome) : last.outcome === 'running' ? yellow(color, outcome) : red(color, outcome);
    const duration = last.durationMs === undefined ? '' : ` in ${(last.durationMs / 1000).toFixed(1)}s`;
    lastText = `${painted}${duration}, ${relative(last.slot, nowMs)} on ${last.node}`;
  }
  return [
    job.name,
    `${job.schedule} (${describeSchedule(job.schedule)})`,
    job.timezone,
    lastText,
    job.next === null ? '-' : `${job.next} (${relative(Date.parse(job.next), nowMs)})`,
    job.missedTotal === 0 ? '0' : red(color, String(job.missedTotal)),
  ];
}
