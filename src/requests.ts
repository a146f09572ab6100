import type { Logger } from 'pino';
import type { Backend } from './election/backend.js';

/**
 * Requests from `lockd trigger` and `lockd resign`, which may run on any machine: they write a key
 * under `requests/`, the leader consumes it and answers under `requests/done/<id>`.
 * `requests/trigger/<job>` is one key per job, so a trigger issued twice before the leader picks it
 * up runs once.
 */
export const triggerRequestKey = (job: string): string => `requests/trigger/${job}`;
export const resignRequestKey = 'requests/resign';
export const requestDoneKey = (id: string): string => `requests/done/${id}`;

export interface RequestBody {
  id: string;
  /** ISO-8601 UTC time of the request. */
  at: string;
}

export interface RequestAnswer {
  ok: boolean;
  runId?: string | null;
  node: string;
  message?: string;
}

export interface RequestHandlers {
  /** Runs the job now; resolves with the run id, or null when it was not run (e.g. overlap). */
  trigger(job: string): Promise<string | null>;
  resign(): void;
}

/** The leader's side: watches `requests/`, consumes each request once, answers it. */
export class RequestInbox {
  private unwatch: (() => void) | undefined;
  private busy = false;
  private again = false;

  constructor(
    private readonly backend: Backend,
    private readonly logger: Logger,
    private readonly handlers: RequestHandlers,
    private readonly node = '',
  ) {}

  start(): void {
    this.unwatch = this.backend.watchPrefix('requests/', () => void this.drain());
    void this.drain();
  }

  stop(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }

  private async drain(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        const pending = (await this.backend.list('requests/')).filter((kv) => !kv.key.startsWith('requests/done/'));
        for (const { key, value } of pending) await this.handle(key, value);
      } while (this.again && this.unwatch !== undefined);
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read requests');
    } finally {
      this.busy = false;
    }
  }

  private async handle(key: string, value: string): Promise<void> {
    await this.backend.delete(key);
    const body = JSON.parse(value) as RequestBody;
    let answer: RequestAnswer;
    if (key === resignRequestKey) {
      this.logger.info({ request: body.id }, 'resign requested');
      answer = { ok: true, node: this.node };
      await this.backend.put(requestDoneKey(body.id), JSON.stringify(answer));
      this.handlers.resign();
      return;
    }
    const job = key.slice('requests/trigger/'.length);
    try {
      const runId = await this.handlers.trigger(job);
      answer = { ok: runId !== null, runId, node: this.node, message: runId === null ? 'not run (see lockd history)' : undefined };
    } catch (err) {
      answer = { ok: false, node: this.node, message: err instanceof Error ? err.message : String(err) };
    }
    this.logger.info({ request: body.id, job, answer }, 'trigger handled');
    await this.backend.put(requestDoneKey(body.id), JSON.stringify(answer));
  }
}
