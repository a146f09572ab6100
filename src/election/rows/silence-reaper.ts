import type { Logger } from 'pino';
import { monotonicMs } from '../../clock.js';
import { SilenceWatch, type SessionSighting } from './silence-watch.js';

/** What a store gives the reaper: how to read its sessions and how to reap one. */
export interface SilenceReaperOptions {
  ttlMs: number;
  /** How often every session is read. */
  pollMs: number;
  logger: Logger;
  /**
   * Every session of the cluster with its renewal count, read on the reaper's own connection,
   * and that connection's generation (how many connections it has made). May reject.
   */
  sessions(): Promise<{ sessions: SessionSighting[]; generation: number }>;
  /**
   * Deletes the session only if its count is still `renewals` (and the store's own clock agrees
   * it expired, or went back), in one operation that also notifies; true when it did. May reject.
   */
  reap(session: SessionSighting): Promise<boolean>;
  /** Closes the reaper's connection. */
  close(): void;
}

/**
 * Reaps the dead sessions of a cluster by the observed-silence rule (silence-watch.ts): reads
 * every session's renewal count every `pollMs`, and again at the moment one becomes due, and
 * reaps those silent for the TTL. Every daemon runs one, so a dead holder goes within TTL plus
 * one poll interval even when nobody waits. A new connection drops every observation (the store
 * may have failed over or restarted and lost renewals that were acknowledged). Failures are
 * logged at debug and retried on the next poll; the reaper never throws.
 */
export class SilenceReaper {
  private readonly silence: SilenceWatch;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private stopped = false;

  constructor(private readonly options: SilenceReaperOptions) {
    this.silence = new SilenceWatch(options.ttlMs);
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.options.close();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), Math.max(0, delayMs));
  }

  private async poll(): Promise<void> {
    let nextDueAt = Infinity;
    try {
      const { sessions, generation } = await this.options.sessions();
      if (generation !== this.generation) {
        this.generation = generation;
        this.silence.forget();
      }
      const observed = this.silence.observe(sessions);
      nextDueAt = observed.nextDueAt;
      for (const session of observed.due) {
        if (await this.options.reap(session)) this.options.logger.info({ session: session.id }, 'reaped a session silent for longer than the TTL');
      }
    } catch (err) {
      this.options.logger.debug({ err: (err as Error).message }, 'session watch failed; trying again');
    }
    this.schedule(Math.min(this.options.pollMs, nextDueAt + 1 - monotonicMs()));
  }
}
