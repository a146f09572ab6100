import { readdirSync, readFileSync } from 'node:fs';

/** A process as seen once in /proc: its pid and its start time, so that a reused pid is not taken for it. */
export interface ProcessRef {
  readonly pid: number;
  readonly startTime: string;
}

/** Pid, parent pid, state and start time from /proc/<pid>/stat; undefined when the process is gone. */
function stat(pid: number): { ppid: number; state: string; startTime: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name (which may hold spaces): state ppid ... starttime is field 22.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', ppid: Number(fields[1]), startTime: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * Every live descendant of `pid` (children, their children, ...), found by parent pid in /proc
 * (this kernel has no /proc/<pid>/task/<tid>/children). Stop `pid` first when it may fork meanwhile.
 */
export function descendants(pid: number): ProcessRef[] {
  const byParent = new Map<number, ProcessRef[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s === undefined || s.state === 'Z') continue;
    const siblings = byParent.get(s.ppid) ?? [];
    siblings.push({ pid: Number(entry), startTime: s.startTime });
    byParent.set(s.ppid, siblings);
  }
  const found: ProcessRef[] = [];
  const queue = [pid];
  for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
    for (const child of byParent.get(parent) ?? []) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

/** Whether the process `ref` names still runs (not a zombie, and its pid not reused by another). */
export function stillRunning(ref: ProcessRef): boolean {
  const s = stat(ref.pid);
  return s !== undefined && s.state !== 'Z' && s.startTime === ref.startTime;
}

/** The state letter of process `pid` (`R`, `S`, `T` when stopped, `Z`...); `''` when it is gone. */
export function processState(pid: number): string {
  return stat(pid)?.state ?? '';
}

/** Sends `signal` to each process of `refs` that still runs; ignores those that are gone. */
export function signalEach(refs: readonly ProcessRef[], signal: NodeJS.Signals): void {
  for (const ref of refs) {
    if (!stillRunning(ref)) continue;
    try {
      process.kill(ref.pid, signal);
    } catch {
      // It exited between the check and the signal.
    }
  }
}
