import type { Logger } from 'pino';
import { monotonicMs } from '../../clock.js';
import { SilenceWatch } from '../rows/silence-watch.js';
import type { PgLink } from './pg-link.js';

/**
 * Reaps the dead sessions of a cluster by the observed-silence rule (rows/silence-watch.ts):
 * polls every session's renewal count on its own connection every `pollMs`, and again at the
 * moment one becomes due, then calls `reap(cluster, id, renewals)`, which deletes the session
 * (and by cascade its holder rows) only if its count is unchanged and the server's clock also
 * says it expired, and notifies. Every daemon runs one, so a dead holder goes within TTL plus
 * one poll interval even when nobody waits. A new connection drops every observation (the
 * database may have failed over and lost renewals). Failures are logged at debug and retried on
 * the next poll; the reaper never throws.
 */
export class PgReaper {
  private readonly silence: SilenceWatch;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private stopped = false;

  constructor(
    private readonly schema: string,
    private readonly cluster: string,
    private readonly link: PgLink,
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
      const s = `"${this.schema}"`;
      const rows = await this.link.query<{ id: string; renewals: string }>(
        `SELECT id::text AS id, renewals::text AS renewals FROM ${s}.sessions WHERE cluster = $1`,
        [this.cluster],
        this.deadlineMs,
        'watch sessions',
      );
      if (this.link.generation !== this.generation) {
        this.generation = this.link.generation;
        this.silence.forget();
      }
      const observed = this.silence.observe(rows.map((r) => ({ id: r.id, renewals: BigInt(r.renewals) })));
      nextDueAt = observed.nextDueAt;
      for (const { id, renewals } of observed.due) {
        const [reaped] = await this.link.query<{ reaped: boolean }>(
          `SELECT ${s}.reap($1, $2, $3) AS reaped`,
          [this.cluster, id, String(renewals)],
          this.deadlineMs,
          'reap a session',
        );
        if (reaped?.reaped) this.logger.info({ session: id }, 'reaped a session silent for longer than the TTL');
      }
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'session watch failed; trying again');
    }
    this.schedule(Math.min(this.pollMs, nextDueAt + 1 - monotonicMs()));
  }
}
