import type { Writable } from 'node:stream';
import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';

/** Log output (bytes) allowed to wait for a slow stdout reader; lines beyond it are dropped. */
export const MAX_PENDING_LOG_BYTES = 1024 * 1024;

/** How long `flushLogs` waits by default: what a stalled stdout reader may cost an exit. */
export const EXIT_FLUSH_MS = 1000;

/** Every sink this process writes to stdout or stderr through; the drop count and the exit flush cover all. */
const sinks: BoundedLineSink[] = [];

/**
 * The one root logger of a lockd process. JSON lines on stdout by default (what log shippers
 * want); readable coloured lines when stdout is a terminal. Components take a child:
 * `logger.child({ component: 'scheduler' })`.
 *
 * JSON lines on stdout go through a `BoundedLineSink`: a stdout reader that stalls (journald
 * restarting, a log shipper pushing back) costs dropped lines, counted by `droppedLogLines`,
 * never a blocked event loop. Call `flushLogs` before `process.exit`.
 *
 * `LOCKD_LOG_LEVEL` wins over `level`, so an operator can turn on debug without editing the file.
 */
export function createLogger(opts: { level?: string; destination?: DestinationStream; pretty?: boolean } = {}): Logger {
  const options = { level: process.env.LOCKD_LOG_LEVEL ?? opts.level ?? 'info', base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (opts.destination !== undefined) return pino(options, opts.destination);
  if (opts.pretty ?? process.stdout.isTTY === true) {
    return pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  const sink = boundedSink(process.stdout);
  const logger = pino(options, sink);
  sink.onResumed = (dropped) => logger.warn({ dropped_lines: dropped }, 'stdout was not read fast enough: log lines were dropped');
  return logger;
}

/**
 * A `BoundedLineSink` on `target` (process.stdout or process.stderr), counted by
 * `droppedLogLines` and waited for by `flushLogs`.
 */
export function boundedSink(target: Writable): BoundedLineSink {
  const sink = new BoundedLineSink(target);
  sinks.push(sink);
  return sink;
}

/** Log lines dropped on the way to stdout or stderr since the process started (`lockd_log_lines_dropped_total`). */
export function droppedLogLines(): number {
  return sinks.reduce((sum, sink) => sum + sink.dropped, 0);
}

/**
 * Waits until every log line accepted for stdout or stderr has been handed to the kernel, or `timeoutMs`
 * has passed. Resolves true if all were; false means lines are still pending and a
 * `process.exit` now loses them, which is the point: a stalled reader must not hang an exit.
 */
export async function flushLogs(timeoutMs = EXIT_FLUSH_MS): Promise<boolean> {
  const flushed = await Promise.all(sinks.map((sink) => sink.flush(timeoutMs)));
  return flushed.every(Boolean);
}

/**
 * A pino destination that never blocks and never lets more than `maxPendingBytes` wait in
 * `target` (its `writableLength`, which covers Node's buffer and writes in flight in libuv).
 * `target` must not block itself: a pipe or socket stdout is a non-blocking `net.Socket` on
 * Linux; a file stdout writes synchronously, which a disk can slow but a reader cannot stall.
 *
 * pino writes one whole line per `write`, and a line is either handed to `target` whole or
 * dropped whole. A line that does not fit turns dropping on; it stays on, so the output has a
 * few long gaps rather than many holes, until `target` has drained to half the bound. Then
 * `onResumed` is told how many lines were dropped (the logger writes that as a warning) and
 * writing resumes. A line is always accepted while none of this sink's lines is pending, so one
 * longer than the whole bound is still written, alone.
 *
 * A write error (EPIPE: the reader is gone) is not thrown: from then on every line is dropped
 * and counted, and nothing is reported, since there is nowhere to report it.
 */
export class BoundedLineSink implements DestinationStream {
  /** Called, when dropping ends, with the number of lines dropped since it began. */
  onResumed: ((dropped: number) => void) | undefined;
  private droppedTotal = 0;
  private droppedUnreported = 0;
  private dropping = false;
  private broken = false;
  private inFlight = 0;
  private readonly flushWaiters = new Set<() => void>();

  constructor(
    private readonly target: Writable,
    private readonly maxPendingBytes = MAX_PENDING_LOG_BYTES,
  ) {
    target.on('error', () => {
      this.broken = true;
    });
  }

  /** Lines dropped so far. */
  get dropped(): number {
    return this.droppedTotal;
  }

  write(line: string): void {
    const full = this.inFlight > 0 && this.target.writableLength + Buffer.byteLength(line) > this.maxPendingBytes;
    if (this.broken || this.dropping || full) {
      this.droppedTotal += 1;
      this.droppedUnreported += 1;
      this.dropping = !this.broken;
      return;
    }
    this.inFlight += 1;
    this.target.write(line, (err) => this.written(err));
  }

  /** Resolves true once nothing this sink wrote is pending, false if `timeoutMs` passes first. */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.flushWaiters.delete(done);
        resolve(this.inFlight === 0);
      };
      const timer = setTimeout(done, timeoutMs);
      this.flushWaiters.add(done);
    });
  }

  private written(err: Error | null | undefined): void {
    this.inFlight -= 1;
    if (err) this.broken = true;
    if (this.dropping && !this.broken && this.target.writableLength <= this.maxPendingBytes / 2) {
      const dropped = this.droppedUnreported;
      this.dropping = false;
      this.droppedUnreported = 0;
      this.onResumed?.(dropped);
    }
    if (this.inFlight === 0) for (const done of [...this.flushWaiters]) done();
  }
}
