import { spawn, type ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { LockdError } from '../errors.js';
import { processStartTime } from '../runner/process-group.js';
import { encodeMessage, type WatchdogMessage } from './watchdog-protocol.js';

/** How long `close()` waits for the watchdog to finish its kills and exit. */
const CLOSE_TIMEOUT_MS = 10_000;
/** How long the watchdog may take to start. */
const START_TIMEOUT_MS = 10_000;

/**
 * lockd's side of the watchdog process (src/fencing/watchdog-main.ts): starts it, tells it each
 * session's kill deadline and each run's process group, and starts it again (replaying what it
 * must know) should it ever die. Writes go to a pipe the watchdog reads at once; they never block
 * the event loop. The watchdog's reports are logged at warn.
 */
export class Watchdog {
  private child: ChildProcess | undefined;
  private closing = false;
  private readonly deadlines = new Map<string, number>();
  private readonly groups = new Map<number, Extract<WatchdogMessage, { kind: 'watch' }>>();

  private ready: Promise<void> = Promise.resolve();
  /** Encoded messages not yet in the pipe. */
  private pending = '';
  private retry: NodeJS.Timeout | undefined;

  private constructor(private readonly logger: Logger) {
    this.spawn();
  }

  /**
   * Starts the watchdog process and resolves once it reads its pipe, so nothing is started before
   * the switch is armed. Throws `LockdError` (`WATCHDOG`) when it does not come up within 10 s.
   */
  static async start(logger: Logger): Promise<Watchdog> {
    const watchdog = new Watchdog(logger.child({ component: 'watchdog' }));
    await watchdog.ready;
    return watchdog;
  }

  /** The process id of the watchdog (for tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  deadline(session: string, killBy: number): void {
    this.deadlines.set(session, killBy);
    this.send({ kind: 'deadline', session, killBy });
  }

  /** Registers the group of a run just spawned; SIGTERM `graceMs` before the session's kill deadline. */
  watch(session: string, pgid: number, graceMs: number): void {
    const message = { kind: 'watch' as const, session, pgid, startTime: processStartTime(pgid), graceMs };
    this.groups.set(pgid, message);
    this.send(message);
  }

  forget(pgid: number): void {
    this.groups.delete(pgid);
    this.send({ kind: 'forget', pgid });
  }

  /** The session was given up: nothing runs under it any more. */
  end(session: string): void {
    this.deadlines.delete(session);
    for (const [pgid, group] of this.groups) if (group.session === session) this.groups.delete(pgid);
    this.send({ kind: 'end', session });
  }

  /**
   * Closes the pipe: the watchdog kills whatever is still registered (SIGTERM, SIGKILL after its
   * grace) and exits. Resolves when it has exited, or after 10 s. Idempotent.
   */
  async close(): Promise<void> {
    this.closing = true;
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    let timer: NodeJS.Timeout | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
    });
    child.stdin?.end();
    await exited;
    clearTimeout(timer);
  }

  /**
   * Queues `message` and writes what is queued with write(2) on the pipe right away, so a message
   * is in the kernel before this call returns: a lockd frozen or killed right after registering a
   * group has still told the watchdog (a stream write could sit in Node's buffer until a later
   * tick). The pipe is non-blocking: when it is full (the watchdog not reading) the rest is
   * retried every 10 ms, in order.
   */
  private send(message: WatchdogMessage): void {
    this.pending += encodeMessage(message);
    this.flush();
  }

  private flush(): void {
    const fd = pipeFd(this.child?.stdin);
    if (fd === undefined) {
      this.pending = '';
      return;
    }
    while (this.pending !== '') {
      let written: number;
      try {
        written = writeSync(fd, this.pending);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
          this.retry ??= setTimeout(() => {
            this.retry = undefined;
            this.flush();
          }, 10);
          return;
        }
        this.logger.debug({ err: (err as Error).message }, 'watchdog pipe write failed');
        this.pending = '';
        return;
      }
      this.pending = Buffer.from(this.pending).subarray(written).toString();
    }
  }

  private spawn(): void {
    const { file, execArgv } = watchdogEntry();
    // Its own process group: a Ctrl-C meant for lockd does not reach it, and it outlives lockd.
    const child = spawn(process.execPath, [...execArgv, file], { detached: true, stdio: ['pipe', 'pipe', 'inherit'] });
    this.child = child;
    child.stdin.on('error', (err) => this.logger.debug({ err: err.message }, 'watchdog pipe error'));
    let ready: () => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new LockdError('WATCHDOG', `the watchdog process did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      ready = () => {
        clearTimeout(timer);
        resolve();
      };
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new LockdError('WATCHDOG', `the watchdog process failed to start: ${err.message}`));
      });
    });
    // A respawn nobody awaits must not reject unobserved; its failure is logged on exit instead.
    this.ready.catch(() => undefined);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const report = safeJson(line);
      if ((report as { event?: unknown }).event === 'ready') ready();
      else this.logger.warn({ report }, 'watchdog acted');
    });
    child.once('exit', (code, signal) => {
      if (this.closing) return;
      this.logger.error({ code, signal }, 'watchdog process exited; starting it again');
      this.spawn();
    });
    // A new process knows nothing: what the last one was told is told again, before anything new.
    this.pending = '';
    for (const [session, killBy] of this.deadlines) this.send({ kind: 'deadline', session, killBy });
    for (const group of this.groups.values()) this.send(group);
    // lockd's exit never waits for the watchdog; it finishes alone.
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
  }
}

/** The file descriptor under a pipe stream (Node keeps it in the stream's handle), if any. */
function pipeFd(stream: unknown): number | undefined {
  const fd = (stream as { _handle?: { fd?: unknown } } | null | undefined)?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** The compiled watchdog next to this file, or the TypeScript source under tsx (unit tests). */
function watchdogEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const typescript = here.endsWith('.ts');
  return { file: here.replace(/watchdog\.(ts|js)$/, 'watchdog-main.$1'), execArgv: typescript ? ['--import', 'tsx'] : [] };
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return line;
  }
}
