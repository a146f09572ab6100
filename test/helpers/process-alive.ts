import { readFileSync } from 'node:fs';

/** Whether process `pid` runs; a zombie (dead, not yet reaped) does not, nor does a vanished one. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
