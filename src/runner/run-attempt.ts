import type { Duplex } from 'node:stream';
import { execa } from 'execa';
import { LineSplitter } from './line-splitter.js';
import { OutputTail } from './output-tail.js';
import { graceFor, killProcessGroup, livingMembers } from './process-group.js';
import { describeSpawnError } from './spawn-error.js';
import { GATE_FD, gatedSpawn, programProblem } from './start-gate.js';
import { formatDuration } from '../config/duration.js';
import type { JobConfig } from '../config/types.js';
import type { AttemptOutcome, AttemptResult, JobRunner } from './types.js';

/**
 * How long to keep reading output after the whole process group is dead. Only a process that
 * left the group (setsid) but kept our pipes open makes this matter.
 */
const OUTPUT_DRAIN_MS = 1000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs one attempt of a job (DESIGN §5) and resolves when nothing of it runs any more. `run` goes
 * to `/bin/sh -c`, `command` is exec'd as argv; env = daemon env + `job.env` + `lockdEnv`. The
 * child leads its own process group and every kill goes to the group: SIGTERM on `job.timeoutMs`
 * (outcome `timeout`) or when `request.signal` aborts (outcome `killed`, error = the abort
 * reason's message), SIGKILL after `job.killGraceMs` (on a lease loss: by the loss's `killBy`).
 * The group is reported to `request.groups` from the spawn until it is gone. When the leader exits on its own but left
 * processes in its group, those get the same SIGTERM/SIGKILL sequence before this resolves; the
 * outcome is still the leader's. Exit 0 is `success`; any other exit or death by signal is
 * `failed`. Output is logged line by line (stdout at info, stderr at warn, through
 * `logger.child({ job, run_id })`) and its last 4 KiB returned. An already-aborted signal spawns
 * nothing. Never rejects: a program or directory that cannot be used is a `spawn_error` result.
 */
export const runAttempt: JobRunner = async (request) => {
  const { job, signal } = request;
  const log = request.logger.child({ job: job.name, run_id: request.runId });
  if (signal.aborted) return notStarted('killed', reasonMessage(signal.reason));
  const gated = gatedSpawn(job);
  if (gated === undefined) return notStarted('spawn_error', 'the job has neither `run` nor a non-empty `command`');
  const program = job.command?.[0];
  const problem = program === undefined ? undefined : programProblem(program, job.cwd, { ...process.env, ...job.env });
  if (program !== undefined && problem !== undefined) return notStarted('spawn_error', describeSpawnError(problem, program, job.cwd));
  const file = program ?? gated.file;

  let subprocess: Subprocess;
  try {
    subprocess = spawnJob(gated.file, gated.args, job, request.lockdEnv);
  } catch (err) {
    return notStarted('spawn_error', describeSpawnError(err, file, job.cwd));
  }
  // The child waits at its gate until its group is registered (written to the watchdog's pipe
  // before this returns), so a lockd frozen or killed at any moment leaves nothing unwatched.
  const spawnedPid = subprocess.pid;
  // A socket pair: writable, although execa types extra fds as output.
  const gate = subprocess.stdio[GATE_FD] as unknown as Duplex;
  gate.on('error', () => undefined);
  if (spawnedPid !== undefined) {
    request.groups?.add(spawnedPid, job.killGraceMs);
    gate.end('go\n');
  }
  const exited = new Promise<Exit>((resolve) => subprocess.once('exit', (code, sig) => resolve({ code, signal: sig })));
  const spawnFailure = await new Promise<unknown>((resolve) => {
    subprocess.once('spawn', () => resolve(undefined));
    // Settles first only when the child never spawned: it waits for an exit otherwise.
    void subprocess.then((result) => resolve(result.cause ?? result.message));
  });
  if (spawnFailure !== undefined) {
    if (spawnedPid !== undefined) request.groups?.remove(spawnedPid);
    return notStarted('spawn_error', describeSpawnError(spawnFailure, file, job.cwd));
  }

  const pid = subprocess.pid!;
  const startedAt = Date.now();
  const startedMono = performance.now();
  try {
    request.onStarted?.(pid, startedAt);
  } catch (err) {
    // The child runs already; rejecting here would leave it unsupervised.
    log.error({ err }, 'onStarted callback threw');
  }
  log.debug({ pid }, 'job started');

  const tail = new OutputTail(job.outputTailBytes);
  const stdout = captureLines(subprocess.stdout, tail, (line, truncated) => log.info(lineFields('stdout', truncated), line));
  const stderr = captureLines(subprocess.stderr, tail, (line, truncated) => log.warn(lineFields('stderr', truncated), line));

  let stopping: { outcome: 'timeout' | 'killed'; error: string } | undefined;
  let killing: Promise<number[]> | undefined;
  const stop = (outcome: 'timeout' | 'killed', error: string, graceMs: number): void => {
    if (stopping !== undefined) return;
    stopping = { outcome, error };
    log.warn({ pid, reason: error, kill_grace_ms: Math.round(graceMs) }, 'stopping job: SIGTERM to its process group');
    killing = killProcessGroup(pid, graceMs, exited);
  };
  const timeoutMs = job.timeoutMs;
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => stop('timeout', `timeout after ${formatDuration(timeoutMs)}`, job.killGraceMs), timeoutMs);
  const onAbort = (): void => stop('killed', reasonMessage(signal.reason), graceFor(signal.reason, job.killGraceMs));
  signal.addEventListener('abort', onAbort, { once: true });
  // The abort may have come while the spawn was in flight, before the listener existed.
  if (signal.aborted) onAbort();

  const exit = await exited;
  clearTimeout(timer);
  signal.removeEventListener('abort', onAbort);
  if (killing === undefined) {
    const leftovers = livingMembers(pid);
    if (leftovers.length > 0) {
      log.warn({ pid, leftovers }, 'job exited but left processes in its group: SIGTERM to the group');
      killing = killProcessGroup(pid, job.killGraceMs, exited);
    }
  }
  const survivors = (await killing) ?? [];
  request.groups?.remove(pid);
  if (survivors.length > 0) log.error({ pid, survivors }, 'processes of the job survived SIGKILL');
  await drainOutput(subprocess, [stdout, stderr]);

  const endedAt = Date.now();
  const outcome: AttemptOutcome = stopping?.outcome ?? (exit.code === 0 ? 'success' : 'failed');
  const error = stopping?.error ?? (outcome === 'failed' ? describeExit(exit) : undefined);
  log.debug({ pid, outcome, exit_code: exit.code, signal: exit.signal }, 'job ended');
  return {
    outcome,
    exitCode: exit.code,
    signal: exit.signal,
    startedAt,
    endedAt,
    durationMs: performance.now() - startedMono,
    outputTail: tail.toString(),
    ...(error === undefined ? {} : { error }),
  };
};

type Subprocess = ReturnType<typeof spawnJob>;

/** Throws synchronously only for arguments Node refuses (e.g. a NUL byte). */
function spawnJob(file: string, args: string[], job: JobConfig, lockdEnv: Record<string, string>) {
  return execa(file, args, {
    cwd: job.cwd,
    env: { ...job.env, ...lockdEnv },
    // Own process group: a kill of -pid reaches everything the job started.
    detached: true,
    // fd 3: the start gate (src/runner/start-gate.ts).
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    buffer: false,
    encoding: 'buffer',
    reject: false,
  });
}

function captureLines(stream: NodeJS.ReadableStream, tail: OutputTail, onLine: (line: string, truncated: boolean) => void): LineSplitter {
  const splitter = new LineSplitter(onLine);
  stream.on('data', (chunk: Buffer) => {
    tail.push(chunk);
    splitter.push(chunk);
  });
  return splitter;
}

/** Waits for both pipes to close (bounded), then logs partial last lines. */
async function drainOutput(subprocess: Subprocess, splitters: LineSplitter[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    timer = setTimeout(resolve, OUTPUT_DRAIN_MS);
    if (subprocess.stdout?.readableEnded !== false && subprocess.stderr?.readableEnded !== false) resolve();
    subprocess.once('close', () => resolve());
  });
  clearTimeout(timer);
  subprocess.stdout?.destroy();
  subprocess.stderr?.destroy();
  for (const splitter of splitters) splitter.end();
}

function lineFields(stream: 'stdout' | 'stderr', truncated: boolean): Record<string, unknown> {
  return truncated ? { stream, truncated } : { stream };
}

function notStarted(outcome: AttemptOutcome, error: string): AttemptResult {
  const now = Date.now();
  return { outcome, exitCode: null, signal: null, startedAt: now, endedAt: now, durationMs: 0, outputTail: '', error };
}

function reasonMessage(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

function describeExit(exit: Exit): string {
  return exit.signal === null ? `exited with code ${exit.code}` : `terminated by ${exit.signal}`;
}
