import { readFileSync, statSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { waitFor } from './wait-for.js';

/**
 * Whether `pid` holds a POSIX write lock on `dbPath` or its `-shm` file (from /proc/locks): it is
 * inside an SQLite write transaction (the WAL write lock is byte 120 of the -shm file).
 */
export function holdsSqliteWriteLock(pid: number, dbPath: string): boolean {
  const inodes = [dbPath, `${dbPath}-shm`].flatMap((file) => {
    try {
      return [String(statSync(file).ino)];
    } catch {
      return [];
    }
  });
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .some((f) => f[3] === 'WRITE' && f[4] === String(pid) && inodes.includes(f[5]?.split(':')[2] ?? ''));
}

/**
 * SIGSTOPs `child` at a moment when the freeze blocks nobody else: while `blocksOthers(pid)` says
 * the stopped process holds a lock every replica needs (embedded: SQLite's write lock, which a
 * stopped process keeps), it is resumed and frozen again a little later. Resolves once stopped,
 * with the monotonic and wall times taken right before the SIGSTOP that stuck.
 */
export async function freezeOutsideLocks(child: ChildProcess, blocksOthers: (pid: number) => boolean = () => false): Promise<{ at: number; wall: number }> {
  const pid = child.pid!;
  for (let attempt = 1; ; attempt++) {
    const sent = { at: performance.now(), wall: Date.now() };
    child.kill('SIGSTOP');
    await waitFor(`process ${pid} to stop`, () => processState(pid) === 'T', 5_000, 1);
    if (!blocksOthers(pid)) return sent;
    if (attempt === 50) throw new Error(`process ${pid} held a shared lock at each of 50 freezes`);
    child.kill('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, 37));
  }
}

function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
}
