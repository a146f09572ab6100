import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built CLI launcher; tests run the real program (npm test builds it first). */
export const lockdBin = path.join(repoRoot, 'bin', 'lockd');

/** One pino JSON line as written by a lockd process. */
export interface LogLine {
  level: number;
  msg: string;
  time: string;
  /** performance.now() in the test process when the line arrived. */
  seenAt: number;
  [field: string]: unknown;
}

/**
 * A real `lockd` process. Its stdout (pino JSON lines) is parsed as it arrives, so a test waits for
 * the event it cares about (`waitForLog`) instead of sleeping.
 */
export class LockdProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];

  constructor(
    readonly name: string,
    args: string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ) {
    this.child = spawn(process.execPath, [lockdBin, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, LOCKD_LOG_LEVEL: 'debug', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = once(this.child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
    createInterface({ input: this.child.stdout! }).on('line', (text) => this.onLine(text));
    createInterface({ input: this.child.stderr! }).on('line', (text) => this.stderr.push(text));
  }

  get pid(): number {
    return this.child.pid!;
  }

  private onLine(text: string): void {
    let line: LogLine;
    try {
      line = { ...(JSON.parse(text) as LogLine), seenAt: performance.now() };
    } catch {
      line = { level: 30, msg: text, time: new Date().toISOString(), seenAt: performance.now() };
    }
    this.logs.push(line);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  /**
   * Resolves with the first log line (already seen after index `from`, or arriving later) that
   * matches; rejects after `timeoutMs` or when the process exits first, with its recent output.
   */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs: number, from = 0): Promise<LogLine> {
    const seen = this.logs.slice(from).find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.name}: no matching log within ${timeoutMs} ms; last lines:\n${this.tail()}`));
      }, timeoutMs);
      timer.unref();
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) before the expected log; last lines:\n${this.tail()}`));
      });
      this.waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** Becomes leader (after log index `from`). */
  waitForLeadership(timeoutMs: number, from = 0): Promise<LogLine> {
    return this.waitForLog((l) => l.msg === 'became leader', timeoutMs, from);
  }

  isLeaderNow(): boolean {
    const changes = this.logs.filter((l) => l.msg === 'became leader' || l.msg.startsWith('resigned leadership') || l.msg.startsWith('leadership lost'));
    return changes.at(-1)?.msg === 'became leader';
  }

  /**
   * Stops reading the process's stdout, as a stalled journald or log shipper would: the pipe fills
   * and the process's writes find it full. `resumeStdout()` reads on.
   */
  stallStdout(): void {
    this.child.stdout!.pause();
  }

  resumeStdout(): void {
    this.child.stdout!.resume();
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** SIGKILLs the process if it still runs and waits for it to be gone. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGCONT');
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }

  tail(n = 30): string {
    return [...this.logs.slice(-n).map((l) => JSON.stringify(l)), ...this.stderr.slice(-10)].join('\n');
  }
}

/** Runs `lockd ARGS` to completion; returns exit code and output. */
export async function runLockd(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [lockdBin, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * Runs a `lockd … --json` command until its output satisfies `done` (state in the backend has no
 * event a test can wait on from outside); returns that output. Rejects after `timeoutMs` with the
 * last output.
 */
export async function pollLockdJson<T>(args: string[], done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const result = await runLockd(args);
    const value = result.code === 0 ? (JSON.parse(result.stdout) as T) : undefined;
    if (value !== undefined && done(value)) return value;
    if (performance.now() > deadline) throw new Error(`lockd ${args.join(' ')} never matched:\n${result.stdout}${result.stderr}`);
  }
}
