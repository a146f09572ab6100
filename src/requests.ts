import type { Logger } from 'pino';
import type { Backend, KeyValue } from './election/backend.js';

/**
 * Requests from `lockd trigger` and `lockd resign`, which may run on any machine: each invocation
 * writes a key of its own under `requests/`, the leader consumes it and answers under
 * `requests/done:<id>`. Trigger requests for one job that arrive together, or within
 * `TRIGGER_COALESCE_MS` of the manual run they would repeat starting, are served by that ONE run
 * and all get its id: a trigger issued twice quickly runs once.
 */
export const TRIGGER_COALESCE_MS = 5000;
// Flat keys (one level below `requests/`, fields split by ':', which job names cannot contain),
// since a ZooKeeper `list` sees direct children only.
export const requestsPrefix = 'requests/';
export const triggerRequestKey = (job: string, id: string): string => `requests/trigger:${job}:${id}`;
export const resignRequestKey = (id: string): string => `requests/resign:${id}`;
export const requestDoneKey = (id: string): string => `requests/done:${id}`;

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
  /** The latest manual run per job and when it was started (performance.now()). */
  private readonly lastManual = new Map<string, { runId: string; at: number }>();

  constructor(
    private readonly backend: Backend,
    private readonly logger: Logger,
    private readonly handlers: RequestHandlers,
    private readonly node = '',
  ) {}

  start(): void {
    this.unwatch = this.backend.watchPrefix(requestsPrefix, () => void this.drain());
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
        const pending = (await this.backend.list(requestsPrefix)).filter((kv) => !kv.key.startsWith(requestDoneKey('')));
        await this.handleAll(pending);
      } while (this.again && this.unwatch !== undefined);
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not read requests');
    } finally {
      this.busy = false;
    }
  }

  /** Serves every pending request: each job's triggers by one run, resigns last. */
  private async handleAll(pending: KeyValue[]): Promise<void> {
    const triggers = new Map<string, string[]>();
    const resigns: string[] = [];
    for (const { key } of pending) {
      await this.backend.delete(key);
      const [kind, ...fields] = key.slice(requestsPrefix.length).split(':');
      const id = fields.at(-1) ?? '';
      if (kind === 'resign') resigns.push(id);
      else if (kind === 'trigger' && fields.length === 2) triggers.set(fields[0]!, [...(triggers.get(fields[0]!) ?? []), id]);
    }
    for (const [job, ids] of triggers) {
      let answer: RequestAnswer;
      const recent = this.lastManual.get(job);
      try {
        if (recent !== undefined && performance.now() - recent.at < TRIGGER_COALESCE_MS) {
          answer = { ok: true, runId: recent.runId, node: this.node, message: 'coalesced with the run just triggered' };
        } else {
          const runId = await this.handlers.trigger(job);
          if (runId !== null) this.lastManual.set(job, { runId, at: performance.now() });
          answer = { ok: runId !== null, runId, node: this.node, message: runId === null ? 'not run (see lockd history)' : undefined };
        }
      } catch (err) {
        answer = { ok: false, node: this.node, message: err instanceof Error ? err.message : String(err) };
      }
      this.logger.info({ requests: ids, job, answer }, 'trigger handled');
      await this.answer(ids, answer);
    }
    if (resigns.length > 0) {
      this.logger.info({ requests: resigns }, 'resign requested');
      await this.answer(resigns, { ok: true, node: this.node });
      this.handlers.resign();
    }
  }

  private async answer(ids: string[], answer: RequestAnswer): Promise<void> {
    await Promise.all(ids.map((id) => this.backend.put(requestDoneKey(id), JSON.stringify(answer))));
  }
}
