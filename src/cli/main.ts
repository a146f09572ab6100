import { Command, CommanderError } from 'commander';
import { flushLogs } from '../observe/logger.js';
import { CliExit, ExitCode } from './common.js';
import { registerRun } from './run-command.js';
import { registerStatus } from './status-command.js';
import { registerValidate } from './validate-command.js';
import { registerHistory } from './history-command.js';
import { registerLock } from './lock-command.js';
import { registerTrigger } from './trigger-command.js';
import { registerResign } from './resign-command.js';
import { registerLocks } from './locks-command.js';

/** The `lockd` program: one file per command under src/cli/. */
export function buildProgram(): Command {
  const program = new Command('lockd')
    .description('Leader election and distributed cron: each scheduled job runs once, fenced, across replicas')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  for (const register of [registerRun, registerStatus, registerValidate, registerHistory, registerLock, registerLocks, registerTrigger, registerResign]) {
    register(program);
  }
  return program;
}

/**
 * Entry point of bin/lockd. Sets `process.exitCode`; prints errors without stack traces. Log lines
 * still pending for stdout and stderr get up to EXIT_FLUSH_MS; if the reader has stalled, the process exits
 * without them rather than wait for it.
 */
export async function main(argv: string[]): Promise<void> {
  await runProgram(argv);
  if (!(await flushLogs())) process.exit();
}

async function runProgram(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    if (err instanceof CliExit) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`lockd: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = ExitCode.failure;
  }
}
