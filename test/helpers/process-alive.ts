import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Whether process `pid` runs; a zombie (dead, not yet reaped) does not, nor does a vanished one. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Pids of the live processes whose working directory is `dir` or below it: the jobs a killed lockd
 * left to its watchdog still run there (until their SIGKILL) and may write files into it.
 */
export function processesWorkingIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${entry}/cwd`);
    } catch {
      continue;
    }
    if ((cwd === dir || cwd.startsWith(`${dir}/`)) && processAlive(Number(entry))) pids.push(Number(entry));
  }
  return pids;
}
