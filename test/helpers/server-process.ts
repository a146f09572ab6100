import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** What a test can do to a server it started. */
export interface TestServer {
  /** Pid of the current process (changes on `restart`). */
  readonly pid: number;
  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  /** SIGKILL, without waiting or cleaning up (use `restart` or `stop` afterwards). */
  kill9(): void;
  /** Kills the server if it runs and starts it again on the same files and ports; resolves when ready. */
  restart(): Promise<void>;
  /** Kills the server and removes its files. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<ServerProcess>();
process.on('exit', () => {
  for (const server of running) server.killNow();
});

/**
 * One test server process (etcd, a ZooKeeper member, a PostgreSQL postmaster) with its files in
 * `dir`: started with its output in a log file, ready when `isReady()` says so, signalled for
 * freeze/thaw/kill tests, and killed (files removed) when the test process exits, even after a
 * crash of the test.
 */
export abstract class ServerProcess {
  private child: ChildProcess | undefined;

  protected constructor(
    protected readonly dir: string,
    private readonly label: string,
    private readonly readyTimeoutMs: number,
  ) {}

  /** The program, its arguments and, optionally, its environment, user and working directory. */
  protected abstract command(): { file: string; args: string[]; options?: Pick<SpawnOptions, 'env' | 'uid' | 'gid' | 'cwd'> };
  /** One readiness probe; polled every 100 ms until true. */
  protected abstract isReady(): Promise<boolean>;

  /** Whether the process was started and Node has not yet seen it exit. */
  protected isRunning(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number {
    if (this.child?.pid === undefined) throw new Error(`${this.label} is not running`);
    return this.child.pid;
  }

  /** Starts the process; resolves when ready, throws with the log's tail when it exits or times out. */
  async launch(): Promise<void> {
    const log = openSync(this.logFile(), 'a');
    const { file, args, options } = this.command();
    const child = spawn(file, args, { ...options, stdio: ['ignore', log, log] });
    closeSync(log);
    this.child = child;
    running.add(this);
    const deadline = performance.now() + this.readyTimeoutMs;
    while (performance.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${this.label} exited (${child.exitCode ?? child.signalCode}):\n${this.logTail()}`);
      }
      if (await this.isReady()) return;
      await delay(100);
    }
    throw new Error(`${this.label} not ready within ${this.readyTimeoutMs / 1000} s:\n${this.logTail()}`);
  }

  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** SIGCONT. */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** SIGKILL, without waiting or cleaning up (use `restart` or `stop` afterwards). */
  kill9(): void {
    this.child?.kill('SIGKILL');
  }

  /** Kills the server if it runs and starts it again on the same files and ports. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** Kills the server and removes its files. Idempotent. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGKILLs the process (if it runs) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    running.delete(this);
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** Synchronous last resort for the process 'exit' hook. */
  killNow(): void {
    this.child?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private logFile(): string {
    return join(this.dir, `${this.label}.log`);
  }

  private logTail(): string {
    try {
      return readFileSync(this.logFile(), 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
