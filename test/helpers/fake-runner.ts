import type { Clock } from '../../src/clock.js';
import type { AttemptOutcome, AttemptResult, JobRunner, RunRequest } from '../../src/runner/types.js';

/** One attempt the fake runner was asked to run. */
export interface FakeAttempt {
  request: RunRequest;
  /** Epoch ms (fake clock) the attempt started. */
  startedAt: number;
  /** Settled once the attempt ended (finished by the test, auto-finished, or killed by its signal). */
  ended: boolean;
  result?: AttemptResult;
}

/**
 * A `JobRunner` for scheduler tests: records every request, calls `onStarted` at once, and ends an
 * attempt when the test calls `finish`, or right away with `auto`'s outcome when set. An aborted
 * request signal ends the attempt as `killed` (what the real runner reports), so tests see the
 * scheduler's kill path without processes.
 */
export class FakeRunner {
  readonly attempts: FakeAttempt[] = [];
  /** Outcome for attempts to end with immediately; undefined = wait for `finish`. */
  auto: AttemptOutcome | ((req: RunRequest) => AttemptOutcome) | undefined;
  readonly #clock: Clock;
  readonly #finishers = new Map<FakeAttempt, (outcome: AttemptOutcome, error?: string) => void>();
  #pid = 1000;

  constructor(clock: Clock, auto?: FakeRunner['auto']) {
    this.#clock = clock;
    this.auto = auto;
  }

  readonly run: JobRunner = (request) => {
    const attempt: FakeAttempt = { request, startedAt: this.#clock.now(), ended: false };
    this.attempts.push(attempt);
    request.onStarted?.(++this.#pid, attempt.startedAt);
    return new Promise<AttemptResult>((resolve) => {
      const end = (outcome: AttemptOutcome, error?: string): void => {
        if (attempt.ended) return;
        attempt.ended = true;
        this.#finishers.delete(attempt);
        const endedAt = this.#clock.now();
        attempt.result = {
          outcome,
          exitCode: outcome === 'success' ? 0 : outcome === 'failed' ? 1 : null,
          signal: outcome === 'killed' || outcome === 'timeout' ? 'SIGTERM' : null,
          startedAt: attempt.startedAt,
          endedAt,
          durationMs: endedAt - attempt.startedAt,
          outputTail: `output of ${request.runId} attempt ${request.lockdEnv.LOCKD_ATTEMPT}\n`,
          ...(error !== undefined ? { error } : {}),
        };
        resolve(attempt.result);
      };
      this.#finishers.set(attempt, end);
      const onAbort = (): void => end('killed', String(request.signal.reason));
      if (request.signal.aborted) onAbort();
      else request.signal.addEventListener('abort', onAbort, { once: true });
      const auto = typeof this.auto === 'function' ? this.auto(request) : this.auto;
      if (auto !== undefined) end(auto);
    });
  };

  /** Attempts started and not yet ended. */
  live(): FakeAttempt[] {
    return this.attempts.filter((a) => !a.ended);
  }

  /** Ends the oldest live attempt of `runId` (or the oldest live one) with `outcome`. */
  finish(outcome: AttemptOutcome = 'success', runId?: string): FakeAttempt {
    const attempt = this.live().find((a) => runId === undefined || a.request.runId === runId);
    if (!attempt) throw new Error(`FakeRunner: no live attempt${runId ? ` of ${runId}` : ''}`);
    this.#finishers.get(attempt)?.(outcome);
    return attempt;
  }

  /** The `LOCKD_*` env of every attempt so far, in start order. */
  envs(): Array<Record<string, string>> {
    return this.attempts.map((a) => a.request.lockdEnv);
  }
}
