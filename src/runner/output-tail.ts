/** Bytes kept of a run's output, in the run record and the attempt result. */
export const OUTPUT_TAIL_BYTES = 4096;

/**
 * The last `maxBytes` bytes of everything pushed, in push order, held in one fixed ring so a job
 * that writes gigabytes costs no more memory than one that writes a line. Never throws.
 */
export class OutputTail {
  private readonly ring: Buffer;
  /** Next write position in `ring`. */
  private end = 0;
  private full = false;

  constructor(readonly maxBytes: number = OUTPUT_TAIL_BYTES) {
    this.ring = Buffer.alloc(maxBytes);
  }

  /** Appends `chunk`; bytes older than the last `maxBytes` are forgotten. */
  push(chunk: Uint8Array): void {
    const size = this.ring.length;
    if (chunk.length >= size) {
      this.ring.set(chunk.subarray(chunk.length - size));
      this.end = 0;
      this.full = true;
      return;
    }
    const first = Math.min(chunk.length, size - this.end);
    this.ring.set(chunk.subarray(0, first), this.end);
    this.ring.set(chunk.subarray(first), 0);
    if (this.end + chunk.length >= size) this.full = true;
    this.end = (this.end + chunk.length) % size;
  }

  /**
   * The kept bytes decoded as UTF-8. When the kept window starts inside a multi-byte character,
   * its orphaned continuation bytes are dropped rather than decoded as U+FFFD.
   */
  toString(): string {
    const bytes = this.full ? Buffer.concat([this.ring.subarray(this.end), this.ring.subarray(0, this.end)]) : this.ring.subarray(0, this.end);
    let start = 0;
    // A UTF-8 character has at most 3 continuation bytes (10xxxxxx).
    while (start < 3 && start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
    return bytes.toString('utf8', start);
  }
}
