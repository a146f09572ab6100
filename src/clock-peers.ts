import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { Backend } from './election/backend.js';

/** How often each replica publishes its wall clock. */
export const CLOCK_PUBLISH_MS = 1000;
export const clocksPrefix = 'clocks/';
export const clockKey = (node: string): string => `${clocksPrefix}${node}`;

/** What a replica publishes under `clocks/<node>`. */
export interface PublishedClock {
  node: string;
  /** Its wall clock (epoch ms) when it wrote this. */
  wall: number;
  /** Counts its publications: an entry that keeps changing is from a replica that runs. */
  seq: number;
}

/** A replica whose entry changed this recently (reader's monotonic clock) counts as running. */
const RUNNING_WITHIN_MS = 10_000;

/**
 * Every replica's wall clock where the others can see it: each one writes `clocks/<node>` every
 * second (an unguarded put), and any reader compares those with its own clock. An entry is up to a
 * second (plus a round trip) old when read, so a peer's offset reads up to that much behind what it
 * is; against the default `leader.max_clock_skew` of 5 s that is noise. A replica counts while it
 * is a candidate, or while its entry keeps changing (one that resigned is out of the election for a
 * moment but still runs); a crashed replica's entry stays but stops changing and is left out, and
 * an entry is only taken for a running replica's once it was seen to change.
 */
export class ClockPeers {
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  /** Per node: the last publication counter read, and when (monotonic) it last changed. */
  private readonly seen = new Map<string, { seq: number; changedAt: number }>();

  constructor(
    private readonly backend: Backend,
    private readonly node: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Starts publishing; failures are logged at debug (the next second tries again). */
  start(): void {
    const publish = (): void => {
      const entry: PublishedClock = { node: this.node, wall: this.clock.now(), seq: ++this.seq };
      this.backend.put(clockKey(this.node), JSON.stringify(entry)).catch((err: unknown) => this.logger.debug({ err: String(err) }, 'could not publish the wall clock'));
    };
    publish();
    this.timer = setInterval(publish, CLOCK_PUBLISH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Each live candidate's clock minus ours (ms; positive: theirs is ahead), ourselves at 0, from
   * their latest entries. Throws `BackendUnavailableError` when the backend cannot be read.
   */
  async offsets(): Promise<Map<string, number>> {
    const [view, entries] = await Promise.all([this.backend.observe(), this.backend.list(clocksPrefix)]);
    const now = this.clock.now();
    const mono = this.clock.monotonic();
    const candidates = new Set(view.candidates.map((c) => c.node));
    const offsets = new Map<string, number>([[this.node, 0]]);
    for (const { value } of entries) {
      const entry = parsePublished(value);
      if (entry === undefined || entry.node === this.node) continue;
      const last = this.seen.get(entry.node);
      // Only a change seen counts: a crashed replica's entry stays behind for good, and a reader
      // that just started must not take every leftover for a running peer.
      if (last === undefined) this.seen.set(entry.node, { seq: entry.seq, changedAt: -Infinity });
      else if (last.seq !== entry.seq) this.seen.set(entry.node, { seq: entry.seq, changedAt: mono });
      const running = mono - (this.seen.get(entry.node)?.changedAt ?? -Infinity) <= RUNNING_WITHIN_MS;
      if (candidates.has(entry.node) || running) offsets.set(entry.node, entry.wall - now);
    }
    return offsets;
  }

  /**
   * Whether this clock may be trusted: false only when more than half of the live candidates
   * (this one included) agree with each other within `maxSkewMs` on a time that is more than
   * `maxSkewMs` away from ours. With three replicas a lone wrong clock is outvoted; where no
   * majority agrees on anything (two replicas that disagree, three different clocks) every replica
   * keeps trusting its own rather than all stepping down.
   */
  async agreesWithMajority(maxSkewMs: number): Promise<boolean> {
    const offsets = [...(await this.offsets()).values()];
    const middle = median(offsets);
    this.logger.debug({ offsets, max_ms: maxSkewMs }, 'clocks compared');
    if (Math.abs(middle) <= maxSkewMs) return true;
    const agreeing = offsets.filter((offset) => Math.abs(offset - middle) <= maxSkewMs).length;
    if (agreeing * 2 <= offsets.length) return true;
    this.logger.error({ skew_ms: Math.round(middle), max_ms: maxSkewMs, agreeing, candidates: offsets.length }, 'this wall clock disagrees with most candidates');
    return false;
  }
}

export function parsePublished(value: string): PublishedClock | undefined {
  try {
    const entry = JSON.parse(value) as Partial<PublishedClock>;
    return typeof entry.node === 'string' && typeof entry.wall === 'number' ? { node: entry.node, wall: entry.wall, seq: entry.seq ?? 0 } : undefined;
  } catch {
    return undefined;
  }
}

/** The median (the mean of the middle two for an even count); 0 for none. */
export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
