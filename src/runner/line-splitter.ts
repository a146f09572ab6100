/** Longest line logged as is; longer lines are cut to this many bytes. */
export const MAX_LINE_BYTES = 4096;

/** Receives one line, without its `\n` (or `\r\n`); `truncated` when the line was cut. */
export type LineHandler = (line: string, truncated: boolean) => void;

/**
 * Splits a byte stream into UTF-8 lines. A line longer than `maxLineBytes` is handed over as soon
 * as it passes the limit, cut at a character boundary, and the rest of it up to the next newline
 * is dropped: one runaway line must not become thousands of log entries or unbounded memory.
 * Exceptions thrown by `onLine` propagate to the caller of `push`/`end`.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Inside a line that was already cut and handed over. */
  private discarding = false;

  constructor(
    private readonly onLine: LineHandler,
    private readonly maxLineBytes: number = MAX_LINE_BYTES,
  ) {}

  /** Feeds the next chunk of the stream. */
  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      this.append(chunk.subarray(start, newline === -1 ? chunk.length : newline));
      if (newline === -1) return;
      if (!this.discarding) this.emitPending();
      this.discarding = false;
      start = newline + 1;
    }
  }

  /** The stream ended: hands over a last line that had no trailing newline. */
  end(): void {
    if (this.pendingBytes > 0) this.emitPending();
    this.discarding = false;
  }

  private append(part: Buffer): void {
    if (this.discarding || part.length === 0) return;
    if (this.pendingBytes + part.length <= this.maxLineBytes) {
      this.pending.push(part);
      this.pendingBytes += part.length;
      return;
    }
    const line = Buffer.concat([...this.pending, part]);
    this.clear();
    this.discarding = true;
    // `line` is longer than the limit, so `line[cut]` exists; step back off continuation bytes so
    // the cut never splits a character.
    let cut = this.maxLineBytes;
    while (cut > 0 && (line[cut]! & 0xc0) === 0x80) cut--;
    this.onLine(line.toString('utf8', 0, cut), true);
  }

  private emitPending(): void {
    let line = Buffer.concat(this.pending, this.pendingBytes).toString('utf8');
    this.clear();
    if (line.endsWith('\r')) line = line.slice(0, -1);
    this.onLine(line, false);
  }

  private clear(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }
}
