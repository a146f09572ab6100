import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { Backend, CandidateInfo } from '../../src/election/backend.js';
import { createBackend } from '../../src/election/create-backend.js';
import type { ConformanceTarget } from './backend-conformance.js';

/**
 * State shared by the conformance tests of one target: opens backends under unique cluster names
 * and closes every backend a test opened once the test ends.
 */
export class ConformanceContext {
  readonly target: ConformanceTarget;
  readonly ttlMs: number;
  private readonly open = new Set<Backend>();

  constructor(target: ConformanceTarget) {
    this.target = target;
    this.ttlMs = target.ttlMs ?? 2000;
  }

  /** A cluster name no other test (or earlier run against the same server) uses. */
  cluster(label: string): string {
    return `conf-${this.target.name}-${label}-${randomBytes(4).toString('hex')}`;
  }

  /** Opens a backend (its own session) in `cluster`; it is closed after the current test. */
  async openBackend(cluster: string): Promise<Backend> {
    const backend = await createBackend(this.target.config(), {
      cluster,
      ttlMs: this.ttlMs,
      logger: pino({ level: 'silent' }),
    });
    this.open.add(backend);
    return backend;
  }

  /** Closes every backend opened since the last call; a close failure must not hide a test failure. */
  async closeAll(): Promise<void> {
    const backends = [...this.open];
    this.open.clear();
    await Promise.allSettled(backends.map((b) => b.close()));
  }
}

/** Candidate info for node `node`, as a daemon would send it. */
export function candidate(node: string): CandidateInfo {
  return { node, host: 'conformance-host', pid: process.pid, since: new Date().toISOString() };
}

/** Resolves when `signal` aborts; rejects naming `what` if it has not aborted within `timeoutMs`. */
export function whenAborted(signal: AbortSignal, what: string, timeoutMs: number): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: signal not aborted within ${timeoutMs} ms`)), timeoutMs);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Tracks whether a promise has settled yet, without consuming its rejection. */
export function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { promise, settled: () => done };
}

/** `[0, 1, ..., n - 1]`. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
