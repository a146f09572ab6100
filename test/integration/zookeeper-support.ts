import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { pino, type Logger } from 'pino';

/** One parsed pino line. */
export type LogLine = { level: number; msg: string } & Record<string, unknown>;

/**
 * A debug-level pino logger whose JSON lines are parsed and kept, so a test can wait for what the
 * backend reports (e.g. the session id, a timed-out create) instead of reading the console.
 */
export class LogSink {
  readonly lines: LogLine[] = [];
  readonly logger: Logger;
  private readonly waiters = new Set<() => void>();

  constructor() {
    const stream = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        for (const text of chunk.toString().split('\n')) {
          if (text.trim() !== '') this.lines.push(JSON.parse(text) as LogLine);
        }
        for (const wake of [...this.waiters]) wake();
        done();
      },
    });
    this.logger = pino({ level: 'debug' }, stream);
  }

  /** The first line (already logged or still to come) matching `match`; rejects after `timeoutMs`. */
  next(match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    const found = this.lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const line = this.lines.find(match);
        if (!line) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(line);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching log line within ${timeoutMs} ms; got:\n${this.lines.map((l) => l.msg).join('\n')}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** The id (hex) of the newest ZooKeeper session the backend reported. */
  lastSessionId(): string | undefined {
    const line = this.lines.filter((l) => l.msg === 'zookeeper session established').at(-1);
    return typeof line?.sessionId === 'string' ? line.sessionId : undefined;
  }
}

/**
 * Runs `sample` about every 10 ms until `stop()`, keeping each violation it reports: how the
 * failover tests check "never two leaders" at every sampled moment rather than at the end.
 */
export class Sampler {
  private readonly violations: string[] = [];
  private samples = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(sample: () => string | undefined | Promise<string | undefined>) {
    this.loop = (async () => {
      while (this.running) {
        this.samples++;
        const violation = await sample();
        if (violation !== undefined) this.violations.push(violation);
        await delay(10);
      }
    })();
  }

  async stop(): Promise<{ violations: string[]; samples: number }> {
    this.running = false;
    await this.loop;
    return { violations: this.violations, samples: this.samples };
  }
}
