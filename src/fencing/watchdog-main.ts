/**
 * The watchdog process: lockd's dead man's switch (DESIGN §1.4). It shares nothing with lockd but a
 * pipe and the machine's CLOCK_MONOTONIC, so it acts whatever happens to lockd: SIGKILL, SIGSTOP, a
 * blocked event loop, a stalled stdout.
 *
 * It keeps a table of process groups, each under a backend session with a kill deadline, fed by
 * the messages of src/fencing/watchdog-protocol.ts on stdin. For every group it sends SIGTERM
 * `graceMs` before the deadline and SIGKILL at the deadline, unless lockd moved the deadline on
 * (an acknowledged renewal) or reported the group gone first. When stdin closes (lockd died, or
 * closed it at exit) every group left gets SIGTERM at once and SIGKILL after its grace (never
 * later than its deadline); the watchdog exits once they are all gone. It signals a group only
 * while the group leader's identity (pid + start time) is the one registered, so it never kills a
 * group that is not lockd's. It never signals anything before `deadline − graceMs` while lockd
 * lives. What it did goes to stdout as one JSON object per line, for lockd to log; nothing else
 * is ever written, and a stalled reader cannot block it (the writes are asynchronous).
 */
import net from 'node:net';
import { createInterface } from 'node:readline';
import { monotonicMs } from '../clock.js';
import { livingMembers, processStartTime, signalGroup } from '../runner/process-group.js';
import { parseMessage, type WatchdogMessage } from './watchdog-protocol.js';

/** How often a signalled group is checked for being gone. */
const REAP_POLL_MS = 20;
/** A group still alive this long after SIGKILL is stuck (uninterruptible I/O) and left alone. */
const STUCK_AFTER_MS = 5000;

interface Group {
  session: string;
  pgid: number;
  startTime: string | undefined;
  graceMs: number;
  termSent: boolean;
  killSentAt: number | undefined;
}

const deadlines = new Map<string, number>();
const groups = new Map<number, Group>();
let orphanedAt: number | undefined;
let timer: NodeJS.Timeout | undefined;

const report = new net.Socket({ fd: 1, readable: false, writable: true });
report.on('error', () => undefined);

function tell(event: Record<string, unknown>): void {
  // Bounded: a reader that stopped reading loses reports rather than growing this process.
  if (report.writableLength < 64 * 1024) report.write(`${JSON.stringify(event)}\n`);
}

function apply(message: WatchdogMessage): void {
  switch (message.kind) {
    case 'deadline':
      deadlines.set(message.session, message.killBy);
      break;
    case 'watch':
      groups.set(message.pgid, { ...message, termSent: false, killSentAt: undefined });
      break;
    case 'forget':
      groups.delete(message.pgid);
      break;
    case 'end':
      deadlines.delete(message.session);
      for (const group of groups.values()) if (group.session === message.session) groups.delete(group.pgid);
      break;
  }
}

/** Whether `group` is still the group lockd registered and has a living (not zombie) member. */
function stillThere(group: Group): boolean {
  const startTime = processStartTime(group.pgid);
  // A leader with another start time is a reused pid: not ours. With no leader the group may live
  // on leaderless; its id cannot be reused while it does, so the member test below decides.
  if (startTime !== undefined && startTime !== group.startTime) return false;
  return livingMembers(group.pgid).length > 0;
}

/** The instant by which `group` must be dead. */
function killByOf(group: Group): number {
  const deadline = deadlines.get(group.session) ?? -Infinity;
  return orphanedAt === undefined ? deadline : Math.min(deadline, orphanedAt + group.graceMs);
}

function send(group: Group, signal: 'SIGTERM' | 'SIGKILL', now: number): void {
  if (!stillThere(group)) {
    groups.delete(group.pgid);
    return;
  }
  signalGroup(group.pgid, signal);
  const late = Math.round(now - killByOf(group));
  tell({ event: 'signalled', signal, pgid: group.pgid, session: group.session, msAfterKillBy: late, lockdGone: orphanedAt !== undefined });
}

/** Acts on every group whose time has come; arms the timer for the next. */
function tick(): void {
  clearTimeout(timer);
  const now = monotonicMs();
  let next = Infinity;
  for (const group of [...groups.values()]) {
    const killBy = killByOf(group);
    if (group.killSentAt === undefined && now >= killBy) {
      send(group, 'SIGKILL', now);
      group.killSentAt = now;
    } else if (!group.termSent && now >= killBy - group.graceMs) {
      send(group, 'SIGTERM', now);
      group.termSent = true;
    }
    if (!groups.has(group.pgid)) continue;
    if (group.termSent || group.killSentAt !== undefined) {
      if (!stillThere(group)) {
        groups.delete(group.pgid);
        tell({ event: 'gone', pgid: group.pgid, session: group.session });
        continue;
      }
      if (group.killSentAt !== undefined && now - group.killSentAt > STUCK_AFTER_MS) {
        groups.delete(group.pgid);
        tell({ event: 'stuck', pgid: group.pgid, session: group.session });
        continue;
      }
      next = Math.min(next, now + REAP_POLL_MS);
    }
    next = Math.min(next, group.termSent ? killBy : killBy - group.graceMs);
  }
  if (orphanedAt !== undefined && groups.size === 0) {
    report.end(() => process.exit(0));
    setTimeout(() => process.exit(0), 200).unref();
    return;
  }
  if (next !== Infinity) timer = setTimeout(tick, Math.max(0, Math.ceil(next - now)));
}

// lockd decides when this process ends (by closing the pipe), not a signal meant for lockd.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => undefined);
process.title = 'lockd-watchdog';
tell({ event: 'ready' });

let tickQueued = false;
/** Once per batch of lines: the newest deadline of a burst counts, not the first. */
function queueTick(): void {
  if (tickQueued) return;
  tickQueued = true;
  setImmediate(() => {
    tickQueued = false;
    tick();
  });
}

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const message = parseMessage(line);
    if (message === undefined) {
      tell({ event: 'malformed', line: line.slice(0, 200) });
      return;
    }
    apply(message);
    queueTick();
  })
  .on('close', () => {
    orphanedAt = monotonicMs();
    tick();
  });
