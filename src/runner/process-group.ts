import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { monotonicMs } from '../clock.js';
import { LeadershipLostError } from '../errors.js';

/** How long to wait for a group to die after SIGKILL before giving up on it. */
const REAP_TIMEOUT_MS = 2000;
const POLL_MIN_MS = 5;
const POLL_MAX_MS = 50;

/**
 * Sends `signal` to every process in group `pgid`. Returns false when the group no longer exists
 * (ESRCH); true when it does, even if none of its members could be signalled (EPERM: a member
 * changed user). Throws only for an invalid signal.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    if (code === 'EPERM') return true;
    throw err;
  }
}

/**
 * Field 22 of `/proc/<pid>/stat` (the start time in clock ticks since boot): with the pid, it names
 * one process for the life of the boot, so a pid reused by another process is told apart.
 * Undefined when the process is gone (or there is no `/proc`).
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // `pid (comm) state ppid ...`: field 22 is the 20th after the closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Pids of the members of group `pgid` that are still running. Zombies do not count: they are dead
 * and only wait for their parent (init, for orphans) to reap them, which some container inits do
 * late or never. Reads `/proc`; where there is none, a group that exists counts as running, with
 * `pgid` standing for its unknown members. Never throws for a vanished process.
 */
export function livingMembers(pgid: number): number[] {
  if (!signalGroup(pgid, 0)) return [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [pgid];
  }
  const living: number[] = [];
  for (const entry of entries) {
    const first = entry.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue;
    }
    // `pid (comm) state ppid pgrp ...`; comm may itself contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (Number(fields[2]) === pgid && state !== 'Z' && state !== 'X') living.push(Number(entry));
  }
  return living;
}

/**
 * Polls until group `pgid` has no living member or the monotonic clock passes `deadline`
 * (`performance.now()` ms). There is no event for "the last process of a group died", hence the
 * poll, from 5 ms backing off to 50 ms. Returns the members still living (empty = all dead).
 */
export async function waitGroupGone(pgid: number, deadline: number): Promise<number[]> {
  let interval = POLL_MIN_MS;
  for (;;) {
    const living = livingMembers(pgid);
    const left = deadline - performance.now();
    if (living.length === 0 || left <= 0) return living;
    await delay(Math.min(interval, left));
    interval = Math.min(interval * 2, POLL_MAX_MS);
  }
}

/**
 * Stops process group `pgid`: SIGTERM to the group now, SIGKILL to the group once `graceMs` has
 * passed if any member still lives. `leaderExited` (the group leader's exit) lets the wait end
 * without polling while the leader is still running. Resolves when every member is dead, or
 * 2 s after SIGKILL (a process stuck in uninterruptible I/O); the result lists the pids that
 * outlived that, empty normally. Never rejects.
 */
export async function killProcessGroup(pgid: number, graceMs: number, leaderExited?: Promise<unknown>): Promise<number[]> {
  if (!signalGroup(pgid, 'SIGTERM')) return [];
  const killAt = performance.now() + graceMs;
  if (leaderExited !== undefined) {
    const controller = new AbortController();
    await Promise.race([leaderExited.catch(() => undefined), delay(graceMs, undefined, { signal: controller.signal }).catch(() => undefined)]);
    controller.abort();
  }
  if ((await waitGroupGone(pgid, killAt)).length === 0) return [];
  if (!signalGroup(pgid, 'SIGKILL')) return [];
  return waitGroupGone(pgid, performance.now() + REAP_TIMEOUT_MS);
}

/**
 * The SIGTERM → SIGKILL wait for a kill whose cause is `reason`: `killGraceMs`; but on a lease loss
 * (a `LeadershipLostError`) no later than its `killBy`, and none when it has none (the backend
 * reported the lease gone, so another holder may exist already).
 */
export function graceFor(reason: unknown, killGraceMs: number): number {
  if (!(reason instanceof LeadershipLostError)) return killGraceMs;
  return Math.max(0, Math.min(killGraceMs, (reason.killBy ?? 0) - monotonicMs()));
}
