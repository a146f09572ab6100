/**
 * How soon a change feed's listener needs to hear of a change: `turn` for a waiter whose turn may
 * come at any moment (a lock, a seat, the election: the store's fastest look); `watch` for a
 * prefix watch (requests, status), which can wait for a slower look and so lets an idle daemon
 * sleep.
 */
export type FeedPace = 'turn' | 'watch';

/**
 * A repeating timer for a change feed: runs only while someone listens, every `paceMs.turn` while
 * any listener waits for a turn, else every `paceMs.watch`. Switching pace re-arms it at once, so
 * a waiter that arrives during a slow stretch is served at the fast pace from its next tick.
 */
export class PacedTicker {
  private timer: NodeJS.Timeout | undefined;
  private intervalMs: number | undefined;
  private readonly counts: Record<FeedPace, number> = { turn: 0, watch: 0 };

  constructor(
    private readonly tick: () => void,
    private readonly paceMs: Readonly<Record<FeedPace, number>>,
  ) {}

  /** Whether the timer runs (someone listens). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Whether a listener waits for a turn (the timer runs at the fast pace). */
  get serving(): boolean {
    return this.counts.turn > 0;
  }

  add(pace: FeedPace): void {
    this.counts[pace]++;
    this.rearm();
  }

  remove(pace: FeedPace): void {
    this.counts[pace]--;
    this.rearm();
  }

  /** Stops the timer and forgets every listener. */
  stop(): void {
    this.counts.turn = this.counts.watch = 0;
    this.rearm();
  }

  private rearm(): void {
    const wanted = this.counts.turn > 0 ? this.paceMs.turn : this.counts.watch > 0 ? this.paceMs.watch : undefined;
    if (wanted === this.intervalMs) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.intervalMs = wanted;
    if (wanted !== undefined) this.timer = setInterval(this.tick, wanted);
  }
}
