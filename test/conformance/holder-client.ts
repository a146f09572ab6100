import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { BackendConfig } from '../../src/config/types.js';

/** What `holder-process.ts` needs to open its backend (passed as JSON in `LOCKD_HOLDER`). */
export interface HolderOptions {
  config: BackendConfig;
  cluster: string;
  ttlMs: number;
}

export type HolderCommand =
  | { cmd: 'acquire'; name: string }
  /** A seat of seat set `name` (of `seats`); its lease is then addressed as `name` like a lock's. */
  | { cmd: 'acquireSeat'; name: string; seats: number }
  | { cmd: 'guardedPut'; name: string; key: string; value: string }
  | { cmd: 'close' };

export type HolderEvent =
  | { event: 'ready' }
  | { event: 'acquired'; name: string; token: string }
  | { event: 'aborted'; name: string; reason: string; valid: boolean }
  | { event: 'putResult'; ok: boolean; written?: boolean; error?: string }
  | { event: 'closed' }
  | { event: 'error'; error: string };

type EventOf<K extends HolderEvent['event']> = Extract<HolderEvent, { event: K }>;

const holderScript = fileURLToPath(new URL('./holder-process.ts', import.meta.url));

/**
 * Drives a holder child process: send commands, wait for its events (buffered, so an event that
 * arrives before the test waits for it is not lost), SIGSTOP/SIGCONT it. `kill()` always ends it.
 */
export class HolderClient {
  private readonly child: ChildProcess;
  private readonly events: HolderEvent[] = [];
  private readonly waiters: Array<() => void> = [];
  private stderr = '';

  private constructor(child: ChildProcess) {
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.events.push(JSON.parse(line) as HolderEvent);
      for (const wake of this.waiters.splice(0)) wake();
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    child.on('exit', () => {
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Spawns the holder and waits until its backend is open. */
  static async start(options: HolderOptions): Promise<HolderClient> {
    const child = spawn(process.execPath, ['--import', 'tsx', holderScript], {
      env: { ...process.env, LOCKD_HOLDER: JSON.stringify(options) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const holder = new HolderClient(child);
    await holder.next('ready', 20_000);
    return holder;
  }

  send(command: HolderCommand): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  /** The next event named `name` (earlier events of other kinds are skipped); rejects on `error` or timeout. */
  async next<K extends HolderEvent['event']>(name: K, timeoutMs: number): Promise<EventOf<K>> {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const index = this.events.findIndex((e) => e.event === name || e.event === 'error');
      if (index >= 0) {
        const [event] = this.events.splice(index, 1);
        if (event!.event === 'error' && name !== 'error') throw new Error(`holder failed: ${event!.error}`);
        return event as EventOf<K>;
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.child.exitCode !== null) {
        throw new Error(`holder sent no '${name}' within ${timeoutMs} ms (exit ${this.child.exitCode}); stderr:\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  freeze(): void {
    this.child.kill('SIGSTOP');
  }

  thaw(): void {
    this.child.kill('SIGCONT');
  }

  /** Ends the process whatever its state (a stopped process still dies of SIGKILL). */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}
