import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { burstLine, startsOf } from './scale-jobs.js';

/**
 * The baseline of a burst: `n` bare `spawn('/bin/sh', ['-c', burstLine(file)])` from this process,
 * issued at once, each with `LOCKD_JOB` and `LOCKD_SCHEDULED_AT` set as lockd sets them. Resolves,
 * once all have exited, with the ms from just before the first spawn to the last shell's `date`.
 */
export async function bareSpawns(n: number, file: string): Promise<number> {
  const line = burstLine(file);
  const t0 = Date.now();
  const slot = new Date(t0).toISOString();
  const exits: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const child = spawn('/bin/sh', ['-c', line], { stdio: 'ignore', env: { ...process.env, LOCKD_JOB: `bare-${i}`, LOCKD_SCHEDULED_AT: slot } });
    exits.push(once(child, 'exit'));
  }
  await Promise.all(exits);
  const starts = startsOf(file, Date.parse(slot));
  if (starts.length !== n) throw new Error(`${starts.length} of ${n} bare spawns appended to ${file}`);
  return Math.max(...starts.map((s) => s.atMs)) - t0;
}
