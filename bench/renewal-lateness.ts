import { renewalIntervalMs, vouchedMs } from '../src/election/fencing-window.js';
import type { LogLine } from '../test/helpers/lockd-process.js';

/** The debug line a session logs per acknowledged renewal, and the field naming the session. */
const RENEWAL_LINES: Record<string, { msg: string; session: string } | undefined> = {
  etcd: { msg: 'keep-alive acknowledged', session: 'lease' },
  embedded: { msg: 'heartbeat', session: 'session' },
  postgres: { msg: 'heartbeat', session: 'session' },
};

/** One acknowledged renewal after the session's first. */
export interface Renewal {
  /** Wall clock (ms since epoch) at which it was due: the previous one's send time + the interval. */
  dueAt: number;
  /** Wall clock of the acknowledgement, as the daemon logged it. */
  ackAt: number;
  /** ms from due to acknowledged: timer lateness plus the round trip (etcd) or the write (embedded). */
  lateMs: number;
}

/**
 * Every acknowledged renewal in a daemon's debug log, per session, with how late it was against
 * the renewal interval lockd uses at `ttlMs` (`intervalMs`, src/election/fencing-window.ts). A renewal is due one interval after the previous one was sent: etcd logs
 * the round trip (`rttMs`), so its send time is the acknowledgement minus that; embedded renews
 * with one synchronous SQLite write and logs after it, so its send time is taken as the log time
 * (the write's duration then counts in the next lateness); postgres logs `remainingMs` = the vouched
 * time − the round trip (rounded), so its send time is the acknowledgement minus that round trip.
 * Log times have 1 ms resolution.
 * Undefined for a backend that logs no line per renewal (ZooKeeper).
 */
export function renewalLateness(logs: LogLine[], backend: string, ttlMs: number): { intervalMs: number; renewals: Renewal[] } | undefined {
  const line = RENEWAL_LINES[backend];
  if (line === undefined || (backend !== 'etcd' && backend !== 'embedded' && backend !== 'postgres')) return undefined;
  const intervalMs = renewalIntervalMs(backend, ttlMs);
  const vouched = vouchedMs(backend, ttlMs);
  const rttOf = (l: LogLine): number => {
    if (typeof l.rttMs === 'number') return l.rttMs;
    if (backend === 'postgres' && typeof l.remainingMs === 'number') return Math.max(0, vouched - l.remainingMs);
    return 0;
  };
  const lastSentAt = new Map<unknown, number>();
  const renewals: Renewal[] = [];
  for (const l of logs) {
    if (l.msg !== line.msg) continue;
    const ackAt = Date.parse(l.time);
    const session = l[line.session];
    const previous = lastSentAt.get(session);
    if (previous !== undefined) renewals.push({ dueAt: previous + intervalMs, ackAt, lateMs: ackAt - previous - intervalMs });
    lastSentAt.set(session, ackAt - rttOf(l));
  }
  return { intervalMs, renewals };
}
