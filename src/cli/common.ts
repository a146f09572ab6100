import { pino, type Logger } from 'pino';
import type { LockdConfig } from '../config/types.js';
import { loadConfig } from '../config/load.js';
import type { Backend, SessionWatch } from '../election/backend.js';
import { createBackend } from '../election/create-backend.js';
import { ConfigError, LockdError } from '../errors.js';
import { boundedSink } from '../observe/logger.js';

/** Exit codes of every command (README "CLI"). */
export const ExitCode = {
  ok: 0,
  /** Backend unreachable, job failed to be triggered, or another runtime failure. */
  failure: 1,
  /** Invalid config file or command-line usage. */
  usage: 2,
  /** `lockd lock`: the lock was not acquired (held, or `--wait` passed). */
  notAcquired: 3,
} as const;

/** Thrown inside commands to end the process with a message and an exit code. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** `-c FILE`, else `LOCKD_CONFIG`, else `./lockd.yaml`. */
export function configPath(option: string | undefined): string {
  return option ?? process.env.LOCKD_CONFIG ?? 'lockd.yaml';
}

/** Loads the config; on problems throws `CliExit(2)` whose message lists each as FILE:LINE:COL. */
export async function loadConfigForCli(option: string | undefined): Promise<LockdConfig> {
  try {
    return await loadConfig(configPath(option));
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(ExitCode.usage, err.message);
    throw err;
  }
}

/**
 * Logs of commands other than `run` go to stderr, warnings and worse only, through a bounded sink:
 * a stalled stderr reader costs dropped lines, never a blocked loop (`lockd lock` renews a lease
 * on it). Call `flushLogs` before `process.exit`.
 */
export function cliLogger(): Logger {
  return pino({ level: process.env.LOCKD_LOG_LEVEL ?? 'warn', base: undefined }, boundedSink(process.stderr));
}

/**
 * Opens the config's backend for a one-shot command; a backend that cannot be opened becomes
 * `CliExit(1)` with a plain message (no stack trace).
 */
export async function openBackendForCli(config: LockdConfig, opts: { ttlMs?: number; sessionWatch?: SessionWatch } = {}): Promise<Backend> {
  try {
    return await createBackend(config.backend, {
      cluster: config.cluster,
      node: config.node,
      ttlMs: opts.ttlMs ?? config.leader.ttlMs,
      logger: cliLogger(),
      ...(opts.sessionWatch === undefined ? {} : { sessionWatch: opts.sessionWatch }),
    });
  } catch (err) {
    throw asCliExit(err, `cannot open the ${config.backend.type} backend`);
  }
}

/** Converts lockd errors to a one-line `CliExit(1)`; anything else is rethrown as a bug. */
export function asCliExit(err: unknown, what: string): unknown {
  if (err instanceof CliExit) return err;
  if (err instanceof LockdError) return new CliExit(ExitCode.failure, `${what}: ${err.message}`);
  return err;
}

/** Runs `fn` with a backend and always closes it. */
export async function withBackend<T>(config: LockdConfig, fn: (backend: Backend) => Promise<T>): Promise<T> {
  const backend = await openBackendForCli(config);
  try {
    return await fn(backend);
  } catch (err) {
    throw asCliExit(err, `${config.backend.type} backend`);
  } finally {
    await backend.close().catch(() => undefined);
  }
}
