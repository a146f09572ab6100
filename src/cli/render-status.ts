import cronstrue from 'cronstrue';
import type { StatusSnapshot } from '../observe/status-snapshot.js';
import { formatDuration } from '../config/duration.js';
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

/**
 * The human form of `lockd status`: leader, candidates, and a table of jobs. Pure: `nowMs` fixes
 * every relative time, `color` adds ANSI colours (only when stdout is a TTY).
 */
export function renderStatus(s: StatusSnapshot, nowMs: number, color: boolean): string {
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
  out.push('');
  if (s.jobs.length === 0) {
    out.push('no jobs configured');
    return `${out.join('\n')}\n`;
  }
  const rows = [['JOB', 'SCHEDULE', 'TZ', 'LAST', 'NEXT', 'MISSED']];
  for (const job of s.jobs) {
    const last = job.last;
    let lastText = '-';
    if (last !== null) {
      const outcome = last.reason === undefined ? last.outcome : `${last.outcome} (${last.reason})`;
      const painted = last.outcome === 'success' ? green(color, outcome) : last.outcome === 'running' ? yellow(color, outcome) : red(color, outcome);
      const duration = last.durationMs === undefined ? '' : ` in ${(last.durationMs / 1000).toFixed(1)}s`;
      lastText = `${painted}${duration}, ${relative(last.slot, nowMs)} on ${last.node}`;
    }
    rows.push([
      job.name,
      `${job.schedule} (${describeSchedule(job.schedule)})`,
      job.timezone,
      lastText,
      job.next === null ? '-' : `${job.next} (${relative(Date.parse(job.next), nowMs)})`,
      job.missedTotal === 0 ? '0' : red(color, String(job.missedTotal)),
    ]);
  }
  out.push(table(rows));
  return `${out.join('\n')}\n`;
}
