import { spawn } from 'node:child_process';
import os from 'node:os';
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import type { Lease } from '../election/backend.js';
import { asCliExit, CliExit, ExitCode, loadConfigForCli, openBackendForCli } from './common.js';
import { killProcessGroup } from '../runner/process-group.js';

interface LockOptions {
  config?: string;
  ttl?: string;
  wait?: string;
  killGrace: string;
}

/**
 * `lockd lock NAME [--ttl D] [--wait D] -- CMD ARGS...`: runs CMD while holding lock NAME (the
 * same lock namespace as job locks), with `LOCKD_FENCING_TOKEN` set. Without `--wait` it tries
 * once; with it, it waits up to D. Not acquired → exit 3. If the lock is lost while CMD runs, CMD's
 * process group gets SIGTERM, then SIGKILL after `--kill-grace`. Exits with CMD's exit code
 * (128 + signal number when CMD died of a signal).
 */
export function registerLock(program: Command): void {
  program
    .command('lock')
    .description('run a command while holding a lock; the fencing token is in LOCKD_FENCING_TOKEN')
    .argument('<name>', 'lock name')
    .argument('<command...>', 'command and arguments (after --)')
    .option('-c, --config <file>', 'config file for the backend (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .option('--ttl <duration>', 'lease TTL (default: leader.ttl of the config)')
    .option('--wait <duration>', 'wait up to this long for the lock (default: try once)')
    .option('--kill-grace <duration>', 'SIGTERM → SIGKILL delay when the lock is lost', '5s')
    .action(async (name: string, command: string[], opts: LockOptions) => {
      const config = await loadConfigForCli(opts.config);
      const ttlMs = opts.ttl === undefined ? config.leader.ttlMs : parseDuration(opts.ttl);
      const backend = await openBackendForCli(config, { ttlMs });
      const info = { node: config.node, host: os.hostname(), pid: process.pid, since: new Date().toISOString() };
      let lease: Lease | null;
      try {
        lease =
          opts.wait === undefined
            ? await backend.tryAcquire(name, { info })
            : await backend.acquire(name, { info, signal: AbortSignal.timeout(parseDuration(opts.wait)) }).catch((err: unknown) => {
                if (err instanceof DOMException && err.name === 'TimeoutError') return null;
                throw err;
              });
      } catch (err) {
        await backend.close().catch(() => undefined);
        throw asCliExit(err, `cannot acquire lock ${name}`);
      }
      if (lease === null) {
        await backend.close().catch(() => undefined);
        const why = opts.wait === undefined ? 'is held by another holder' : `was not acquired within ${opts.wait}`;
        throw new CliExit(ExitCode.notAcquired, `lock ${name} ${why}`);
      }
      let code: number;
      try {
        code = await runHolding(lease, command, { cluster: config.cluster, name, killGraceMs: parseDuration(opts.killGrace) });
      } finally {
        await lease.release();
        await backend.close().catch(() => undefined);
      }
      process.exit(code);
    });
}

async function runHolding(lease: Lease, command: string[], opts: { cluster: string; name: string; killGraceMs: number }): Promise<number> {
  const [file, ...args] = command;
  if (file === undefined) throw new CliExit(ExitCode.usage, 'no command given: lockd lock NAME -- CMD ARGS...');
  // Checked on the monotonic clock right before the spawn: after a pause (SIGSTOP, a VM freeze)
  // while waiting, the lease may have expired before the timer that aborts it has run.
  if (!lease.isValid()) throw new CliExit(ExitCode.notAcquired, `lock ${opts.name} was lost before ${file} could start`);
  const child = spawn(file, args, {
    stdio: 'inherit',
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
  const kill = (why: string): void => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    process.stderr.write(`lockd lock: ${why}: stopping ${file} (SIGTERM, SIGKILL after ${opts.killGraceMs} ms)\n`);
    void killProcessGroup(child.pid, opts.killGraceMs, exited);
  };
  lease.signal.addEventListener('abort', () => kill(`lock ${opts.name} lost`), { once: true });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => kill(`${sig} received`));
  return exited;
}
