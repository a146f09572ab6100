import { accessSync, constants, statSync } from 'node:fs';

/**
 * An operator-readable reason why `file` could not be started in `cwd`. Node reports a missing
 * working directory as `spawn /bin/sh ENOENT`, blaming the program, so the directory is checked
 * first; this runs only after a failure, off the spawn path. Never throws.
 */
export function describeSpawnError(error: unknown, file: string, cwd: string | undefined): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const cwdProblem = cwd === undefined ? undefined : describeCwdProblem(cwd);
  if (cwdProblem !== undefined) return cwdProblem;
  switch (code) {
    case 'ENOENT':
      return `cannot start ${file}: no such file (or not found in PATH)`;
    case 'EACCES':
      return `cannot start ${file}: permission denied (not executable?)`;
    default:
      return `cannot start ${file}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function describeCwdProblem(cwd: string): string | undefined {
  try {
    if (!statSync(cwd).isDirectory()) return `working directory ${cwd} is not a directory`;
    accessSync(cwd, constants.X_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return `working directory ${cwd} does not exist`;
    if (code === 'EACCES') return `working directory ${cwd} is not accessible: permission denied`;
    return `working directory ${cwd} cannot be used: ${(err as Error).message}`;
  }
}
