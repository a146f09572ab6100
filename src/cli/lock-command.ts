import { spawn } from 'node:child_process';
import os from 'node:os';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import type { Lease } from '../election/backend.js';
import { fencingWindow } from '../election/fencing-window.js';
import { RunFence } from '../fencing/run-fence.js';
import { Watchdog } from '../fencing/watchdog.js';
import { graceFor, killProcessGroup, waitGroupGone } from '../runner/process-group.js';
import type { GroupRegistry } from '../runner/types.js';
import { describeSpawnError } from '../runner/spawn-error.js';
import { GATE_FD, gatedSpawn, programProblem } from '../runner/start-gate.js';
import { asCliExit, CliExit, cliLogger, ExitCode, loadConfigForCli, openBackendForCli } from './common.js';

/** The shortest lease `lockd lock --ttl` takes: the daemon's own minimum (`leader.ttl`). */
const MIN_TTL_MS = 2000;

interface LockOptions {
  config?: string;
  ttl?: string;
  wait?: string;
  killGrace: string;
}

/**
 * `lockd lock NAME [--ttl D] [--wait D] -- CMD ARGS...`: runs CMD while holding lock NAME (the
 * same lock namespace as job locks), with `LOCKD_FENCING_TOKEN` set. Without `--wait` it tries
 * once; with it, it waits up to D. Not acquired → exit 3. The lock is held until every process of
 * CMD's process group is gone, not only CMD itself. If the lock is lost, the whole group gets
 * SIGTERM and SIGKILL before another holder can get the lock (`--kill-grace`, capped by the
 * self-fencing window); a watchdog process does the same should this process die or freeze.
 * Exits with CMD's exit code (128 + signal number when CMD died of a signal).
 */
export function registerLock(program: Command): void {
  program
    .command('lock')
    .description('run a command while holding a lock; the fencing token is in LOCKD_FENCING_TOKEN')
    .argument('<name>', 'lock name')
    .argument('<command...>', 'command and arguments (after --)')
    .option('-c, --config <file>', 'config file for the backend (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .option('--ttl <duration>', 'lease TTL, at least 2s (default: leader.ttl of the config)')
    .option('--wait <duration>', 'wait up to this long for the lock (default: try once)')
    .option('--kill-grace <duration>', 'SIGTERM → SIGKILL delay when stopping the command (on lock loss at most the self-fencing window allows)', '5s')
    .action(async (name: string, command: string[], opts: LockOptions) => {
      const config = await loadConfigForCli(opts.config);
      const ttlMs = opts.ttl === undefined ? config.leader.ttlMs : parseDuration(opts.ttl);
      if (ttlMs < MIN_TTL_MS) throw new CliExit(ExitCode.usage, `--ttl must be at least 2s (got ${opts.ttl})`);
      const logger = cliLogger();
      const watchdog = await Watchdog.start(logger);
      const fence = new RunFence(watchdog, fencingWindow(config.backend.type, ttlMs).lossGraceMs, logger);
      let code: number;
      try {
        const backend = await openBackendForCli(config, { ttlMs, sessionWatch: fence });
        try {
          const lease = await acquireLock(backend, name, config.node, opts.wait);
          try {
            code = await runHolding(lease, command, fence.groups(lease.sessionId), {
              cluster: config.cluster,
              name,
              killGraceMs: parseDuration(opts.killGrace),
            });
          } finally {
            await lease.release();
          }
        } finally {
          await backend.close().catch(() => undefined);
        }
      } finally {
        await watchdog.close();
      }
      process.exit(code);
    });
}

/** Takes the lock once, or waits up to `wait`; exit 3 when not acquired. */
async function acquireLock(backend: Awaited<ReturnType<typeof openBackendForCli>>, name: string, node: string, wait: string | undefined): Promise<Lease> {
  const info = { node, host: os.hostname(), pid: process.pid, since: new Date().toISOString() };
  let lease: Lease | null;
  try {
    lease =
      wait === undefined
        ? await backend.tryAcquire(name, { info })
        : await backend.acquire(name, { info, signal: AbortSignal.timeout(parseDuration(wait)) }).catch((err: unknown) => {
            if (err instanceof DOMException && err.name === 'TimeoutError') return null;
            throw err;
          });
  } catch (err) {
    throw asCliExit(err, `cannot acquire lock ${name}`);
  }
  if (lease === null) {
    const why = wait === undefined ? 'is held by another holder' : `was not acquired within ${wait}`;
    throw new CliExit(ExitCode.notAcquired, `lock ${name} ${why}`);
  }
  return lease;
}

/**
 * Runs `command` in its own process group and resolves with its exit code once *every* member of
 * the group is gone. On lock loss or SIGTERM/SIGINT the group is stopped (SIGTERM, then SIGKILL
 * after the grace; on loss no later than the lease's kill deadline).
 */
async function runHolding(
  lease: Lease,
  command: string[],
  groups: GroupRegistry,
  opts: { cluster: string; name: string; killGraceMs: number },
): Promise<number> {
  const [file, ...args] = command;
  if (file === undefined) throw new CliExit(ExitCode.usage, 'no command given: lockd lock NAME -- CMD ARGS...');
  // Checked on the monotonic clock right before the spawn: after a pause (SIGSTOP, a VM freeze)
  // while waiting, the lease may have expired before the timer that aborts it has run.
  if (!lease.isValid()) throw new CliExit(ExitCode.notAcquired, `lock ${opts.name} was lost before ${file} could start`);
  const problem = programProblem(file, undefined, process.env);
  if (problem !== undefined) {
    process.stderr.write(`lockd lock: ${describeSpawnError(problem, file, undefined)}\n`);
    return 127;
  }
  const gated = gatedSpawn({ command: [file, ...args] })!;
  const child = spawn(gated.file, gated.args, {
    // fd 3: the start gate (src/runner/start-gate.ts); the command sees this process's stdio.
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    detached: true,
    env: { ...process.env, LOCKD_FENCING_TOKEN: lease.token.toString(), LOCKD_LOCK: opts.name, LOCKD_CLUSTER: opts.cluster },
  });
  const exited = new Promise<number>((resolve) => {
    child.once('error', (err) => {
      process.stderr.write(`lockd lock: cannot start ${file}: ${err.message}\n`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0))));
  });
  const pgid = child.pid;
  if (pgid === undefined) return exited;
  groups.add(pgid, opts.killGraceMs);
  const gate = child.stdio[GATE_FD] as Writable;
  gate.on('error', () => undefined);
  gate.end('go\n');
  let killing: Promise<unknown> | undefined;
  const kill = (why: string, graceMs: number): void => {
    if (killing !== undefined) return;
    process.stderr.write(`lockd lock: ${why}: stopping ${file} and its process group (SIGTERM, SIGKILL after ${Math.round(graceMs)} ms)\n`);
    killing = killProcessGroup(pgid, graceMs, exited);
  };
  const onLoss = (): void => kill(`lock ${opts.name} lost`, graceFor(lease.signal.reason, opts.killGraceMs));
  lease.signal.addEventListener('abort', onLoss, { once: true });
  const onSignal = (sig: NodeJS.Signals): void => kill(`${sig} received`, opts.killGraceMs);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, onSignal);
  const code = await exited;
  // The lock covers the whole group: members left behind (`worker & exit 0`) keep it held.
  await waitGroupGone(pgid, Infinity);
  await killing;
  groups.remove(pgid);
  lease.signal.removeEventListener('abort', onLoss);
  return code;
}
