import type { Logger } from 'pino';
import { monotonicMs } from '../../clock.js';
import { SilenceWatch } from '../rows/silence-watch.js';
import type { RedisKeys } from './redis-keys.js';
import type { RedisLink } from './redis-link.js';
import { SCRIPTS } from './redis-scripts.js';

/**
 * Reaps the dead sessions of a cluster by the observed-silence rule (rows/silence-watch.ts), as
 * pg-reaper.ts does: polls every session's renewal count (`HGETALL ren`) on its own connection
 * every `pollMs`, and again at the moment one becomes due, then runs the `reap` script, which
 * deletes the session only if its count is unchanged and the server's `TIME` is past its expiry
 * or before its last renewal (a backward step of the server's clock), and publishes the change
 * (its queue entries are dead from then on; see redis-scripts.ts). Every daemon runs one, so a
 * dead holder goes within TTL plus one poll interval even when nobody waits. A new connection
 * drops every observation (the server may have restarted and lost renewals that were
 * acknowledged). Failures are logged at debug and retried on the next poll; the reaper never
 * throws.
 */
export class RedisReaper {
  private readonly silence: SilenceWatch;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private stopped = false;

  constructor(
    private readonly keys: RedisKeys,
    private readonly link: RedisLink,
    ttlMs: number,
    private readonly pollMs: number,
    private readonly deadlineMs: number,
    private readonly logger: Logger,
  ) {
    this.silence = new SilenceWatch(ttlMs);
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.link.close();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), Math.max(0, delayMs));
  }

  private async poll(): Promise<void> {
    let nextDueAt = Infinity;
    try {
      const flat = await this.link.call(['HGETALL', this.keys.ren], this.deadlineMs, 'watch sessions');
      if (this.link.generation !== this.generation) {
        this.generation = this.link.generation;
        this.silence.forget();
      }
      const sessions = [];
      const fields = Array.isArray(flat) ? (flat as unknown[]).map(String) : [];
      for (let i = 0; i + 1 < fields.length; i += 2) sessions.push({ id: fields[i] as string, renewals: BigInt(fields[i + 1] as string) });
      const observed = this.silence.observe(sessions);
      nextDueAt = observed.nextDueAt;
      const k = this.keys;
      for (const { id, renewals } of observed.due) {
        const reaped = await this.link.script(SCRIPTS.reap, [k.sess, k.ren, k.exp, k.rtime], [id, String(renewals), k.channel], this.deadlineMs, 'reap a session');
        if (reaped === 1) this.logger.info({ session: id }, 'reaped a session silent for longer than the TTL');
      }
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'session watch failed; trying again');
    }
    this.schedule(Math.min(this.pollMs, nextDueAt + 1 - monotonicMs()));
  }
}
