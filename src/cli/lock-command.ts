import { spawn } from 'node:child_process';
import os from 'node:os';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import type { Lease } from '../election/backend.js';
import { fencingWindow } from '../election/fencing-window.js';
import { MAX_SEATS } from '../election/seats.js';
import { RunFence } from '../fencing/run-fence.js';
import { Watchdog } from '../fencing/watchdog.js';
import { graceFor, killProcessGroup, waitGroupGone } from '../runner/process-group.js';
import type { GroupRegistry } from '../runner/types.js';
import { describeSpawnError } from '../runner/spawn-error.js';
import { GATE_FD, gatedSpawn, programProblem } from '../runner/start-gate.js';
import { asCliExit, CliExit, cliLogger, ExitCode, loadConfigForCli, openBackendForCli } from './common.js';
import { flushLogs } from '../observe/logger.js';

/** The shortest lease `lockd lock --ttl` takes: the daemon's own minimum (`leader.ttl`). */
const MIN_TTL_MS = 2000;

interface LockOptions {
  config?: string;
  ttl?: string;
  wait?: string;
  seats?: string;
  killGrace: string;
}

/**
 * `lockd lock NAME... [--ttl D] [--wait D] -- CMD ARGS...`: runs CMD while holding lock NAME (the
 * same lock namespace as job locks), with `LOCKD_FENCING_TOKEN` set. Several names are taken in
 * one canonical (sorted) order, all or nothing within one `--wait`, released in reverse, so two
 * commands asking for the same locks in different orders cannot deadlock; `LOCKD_FENCING_TOKEN`
 * is then the first name's token and `LOCKD_FENCING_TOKENS` lists `name=token,...`. Without
 * `--wait` it tries once; with it, it waits up to D. With `--seats N` (one NAME only), it takes one
 * of the N seats of seat set NAME instead (a counting semaphore: at most N commands at once, in
 * order of arrival; every caller should pass the same N),
 * `LOCKD_FENCING_TOKEN` is the seat's own token and `LOCKD_SEATS` is N. Not acquired → exit 3. The lock is held until every process of
 * CMD's process group is gone, not only CMD itself. If the lock is lost, the whole group gets
 * SIGTERM and SIGKILL before another holder can get the lock (`--kill-grace`, capped by the
 * self-fencing window); a watchdog process does the same should this process die or freeze.
 * Exits with CMD's exit code (128 + signal number when CMD died of a signal).
 */
export function registerLock(program: Command): void {
  program
    .command('lock')
    .description('run a command while holding a lock; the fencing token is in LOCKD_FENCING_TOKEN')
    .argument('<name>', 'lock name (several: NAME... -- CMD, taken in sorted order)')
    .argument('<command...>', 'command and arguments (after --)')
    .option('-c, --config <file>', 'config file for the backend (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .option('--ttl <duration>', 'lease TTL, at least 2s (default: leader.ttl of the config)')
    .option('--wait <duration>', 'wait up to this long for the lock (default: try once)')
    .option('--seats <n>', 'take one of N seats of seat set NAME instead of the lock (at most N holders; one NAME)')
    .option('--kill-grace <duration>', 'SIGTERM → SIGKILL delay when stopping the command (on lock loss at most the self-fencing window allows)', '5s')
    .action(async (first: string, operands: string[], opts: LockOptions) => {
      const { names, command } = splitOperands([first, ...operands], process.argv);
      const seats = opts.seats === undefined ? undefined : parseSeats(opts.seats, names);
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
          const leases = await acquireLocks(backend, names, config.node, opts.wait, seats);
          try {
            code = await runHolding(leases, command, fence.groups(leases[0]!.sessionId), {
              cluster: config.cluster,
              killGraceMs: parseDuration(opts.killGrace),
              seats,
            });
          } finally {
            for (const lease of [...leases].reverse()) await lease.release();
          }
        } finally {
          await backend.close().catch(() => undefined);
        }
      } finally {
        await watchdog.close();
      }
      // Bounded (EXIT_FLUSH_MS): a stalled stderr reader costs the last lines, not a hung exit.
      await flushLogs();
      process.exit(code);
    });
}

/**
 * The lock names and the command, from commander's operands and the raw argv: the names are the
 * operands before the first `--` (commander does not say where it was), the command all after it.
 * Without `--`, one name and the rest as the command.
 */
function splitOperands(operands: string[], argv: string[]): { names: string[]; command: string[] } {
  const dash = argv.indexOf('--');
  const after = dash === -1 ? operands.length - 1 : argv.length - dash - 1;
  const names = operands.slice(0, operands.length - after);
  if (names.length === 0) throw new CliExit(ExitCode.usage, 'no lock name given: lockd lock NAME... -- CMD ARGS...');
  return { names: [...new Set(names)].sort(), command: operands.slice(operands.length - after) };
}

/** `--seats N`: an integer 1..MAX_SEATS, with exactly one name; else a usage error (exit 2). */
function parseSeats(text: string, names: string[]): number {
  const seats = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(seats >= 1 && seats <= MAX_SEATS)) throw new CliExit(ExitCode.usage, `--seats must be an integer from 1 to ${MAX_SEATS} (got ${text})`);
  if (names.length !== 1) throw new CliExit(ExitCode.usage, `--seats takes one seat set name, got ${names.length}: ${names.join(', ')}`);
  return seats;
}

/**
 * Takes the locks in the given (sorted) order, each once or within what is left of `wait`; when
 * one is not acquired, releases those taken (in reverse) and exits 3. With `seats`, a seat of the
 * (only) name's seat set instead of its lock.
 */
async function acquireLocks(
  backend: Awaited<ReturnType<typeof openBackendForCli>>,
  names: string[],
  node: string,
  wait: string | undefined,
  seats: number | undefined,
): Promise<Lease[]> {
  const info = { node, host: os.hostname(), pid: process.pid, since: new Date().toISOString() };
  const until = wait === undefined ? undefined : performance.now() + parseDuration(wait);
  const leases: Lease[] = [];
  const releaseAll = async (): Promise<void> => {
    for (const lease of leases.reverse()) await lease.release();
  };
  const take = (name: string, signal?: AbortSignal): Promise<Lease | null> => {
    const opts = { info, ...(signal && { signal }) };
    if (seats === undefined) return signal ? backend.acquire(name, opts) : backend.tryAcquire(name, opts);
    return signal ? backend.acquireSeat(name, seats, opts) : backend.tryAcquireSeat(name, seats, opts);
  };
  for (const name of names) {
    const what = seats === undefined ? `lock ${name}` : `a seat of ${name} (${seats} seats)`;
    let lease: Lease | null;
    try {
      lease =
        until === undefined
          ? await take(name)
          : await take(name, AbortSignal.timeout(Math.max(1, Math.ceil(until - performance.now())))).catch((err: unknown) => {
              if (err instanceof DOMException && err.name === 'TimeoutError') return null;
              throw err;
            });
    } catch (err) {
      await releaseAll();
      throw asCliExit(err, `cannot acquire ${what}`);
    }
    if (lease === null) {
      await releaseAll();
      const why = wait === undefined ? (seats === undefined ? 'is held by another holder' : 'is not free: every seat is taken') : `was not acquired within ${wait}`;
      throw new CliExit(ExitCode.notAcquired, `${what} ${why}`);
    }
    leases.push(lease);
  }
  return leases;
}

/**
 * Runs `command` in its own process group and resolves with its exit code once *every* member of
 * the group is gone. On lock loss or SIGTERM/SIGINT the group is stopped (SIGTERM, then SIGKILL
 * after the grace; on loss no later than the lease's kill deadline).
 */
async function runHolding(
  leases: Lease[],
  command: string[],
  groups: GroupRegistry,
  opts: { cluster: string; killGraceMs: number; seats: number | undefined },
): Promise<number> {
  const lease = leases[0]!;
  const names = leases.map((l) => l.name).join(', ');
  const kind = opts.seats === undefined ? 'lock' : 'the seat of';
  const [file, ...args] = command;
  if (file === undefined) throw new CliExit(ExitCode.usage, 'no command given: lockd lock NAME -- CMD ARGS...');
  // Checked on the monotonic clock right before the spawn: after a pause (SIGSTOP, a VM freeze)
  // while waiting, the lease may have expired before the timer that aborts it has run.
  const invalid = leases.find((l) => !l.isValid());
  if (invalid) throw new CliExit(ExitCode.notAcquired, `${kind} ${invalid.name} was lost before ${file} could start`);
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
    env: {
      ...process.env,
      LOCKD_FENCING_TOKEN: lease.token.toString(),
      LOCKD_LOCK: names,
      ...(opts.seats !== undefined && { LOCKD_SEATS: String(opts.seats) }),
      ...(leases.length > 1 && { LOCKD_FENCING_TOKENS: leases.map((l) => `${l.name}=${l.token}`).join(',') }),
      LOCKD_CLUSTER: opts.cluster,
    },
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
  const onLoss = (event: Event): void => {
    const lost = event.target as AbortSignal;
    kill(`${kind} ${leases.find((l) => l.signal === lost)?.name ?? names} lost`, graceFor(lost.reason, opts.killGraceMs));
  };
  for (const l of leases) l.signal.addEventListener('abort', onLoss, { once: true });
  const onSignal = (sig: NodeJS.Signals): void => kill(`${sig} received`, opts.killGraceMs);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, onSignal);
  const code = await exited;
  // The lock covers the whole group: members left behind (`worker & exit 0`) keep it held.
  await waitGroupGone(pgid, Infinity);
  await killing;
  groups.remove(pgid);
  for (const l of leases) l.signal.removeEventListener('abort', onLoss);
  return code;
}
