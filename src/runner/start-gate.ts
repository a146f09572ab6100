import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import type { JobConfig } from '../config/types.js';

/** The child's file descriptor on which it waits for the go. */
export const GATE_FD = 3;

/**
 * Waits for one line on fd 3, closes it, and goes on; exits 125, running nothing, when the pipe
 * closes first (lockd died before it could register the group).
 */
const GATE = `IFS= read -r _ <&${GATE_FD} || exit 125; exec ${GATE_FD}<&-`;

/**
 * How a job's child is spawned so that nothing of the job runs before lockd has registered its
 * process group with the watchdog (DESIGN §1.4): the child is `/bin/sh` waiting on a pipe at fd 3
 * (`GATE`), and lockd writes the go once the group is registered. Without the gate, a lockd
 * descheduled between the fork and the registration, then frozen or killed, would leave a job
 * running that nothing kills. `run:` gets the gate as its first line (no extra process);
 * `command:` is exec'd by the gate shell, argv unchanged.
 */
export function gatedSpawn(job: Pick<JobConfig, 'run' | 'command'>): { file: string; args: string[] } | undefined {
  if (job.run !== undefined) return { file: '/bin/sh', args: ['-c', `${GATE}\n${job.run}`] };
  const command = job.command ?? [];
  if (command.length === 0) return undefined;
  return { file: '/bin/sh', args: ['-c', `${GATE}; exec "$@"`, 'lockd-job', ...command] };
}

/**
 * Why `file` of a `command:` job cannot be exec'd (missing, not found in PATH, not executable),
 * checked before the spawn since the gate shell, not Node, execs it. Undefined when it can be.
 */
export function programProblem(file: string, cwd: string | undefined, env: Record<string, string | undefined>): NodeJS.ErrnoException | undefined {
  const candidates = file.includes('/')
    ? [path.resolve(cwd ?? process.cwd(), file)]
    : (env.PATH ?? process.env.PATH ?? '/usr/bin:/bin').split(':').map((dir) => path.resolve(cwd ?? process.cwd(), dir || '.', file));
  let found: NodeJS.ErrnoException = Object.assign(new Error(`${file}: not found`), { code: 'ENOENT' });
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') found = err as NodeJS.ErrnoException;
    }
  }
  return found;
}
