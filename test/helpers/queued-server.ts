import { BackendUnavailableError } from '../../src/errors.js';
import type { FakeBackend } from './fake-backend.js';

/** What `queueCalls` counts, and its switch. */
export interface QueuedServer {
  /** Calls that were served. */
  served: number;
  /** Calls that failed because they waited past the deadline. */
  expired: number;
  /** False: calls pass straight through again (for the part of a test that is not about load). */
  enabled: boolean;
}

/**
 * Makes `backend`'s data and lock calls behave like one server under load with a client-side
 * deadline stamped when a call is issued (etcd's): the server serves one call at a time, each for
 * `serviceMs`; a call that would begin more than `deadlineMs` after it was issued waits out its
 * deadline and fails with `BackendUnavailableError` instead (and costs the server nothing).
 */
export function queueCalls(backend: FakeBackend, opts: { serviceMs: number; deadlineMs: number }): QueuedServer {
  const server: QueuedServer = { served: 0, expired: 0, enabled: true };
  let busyUntil = 0;
  const hook = async (): Promise<void> => {
    if (!server.enabled) return;
    const issued = performance.now();
    const begins = Math.max(issued, busyUntil);
    if (begins - issued > opts.deadlineMs) {
      server.expired += 1;
      await new Promise((resolve) => setTimeout(resolve, opts.deadlineMs));
      throw new BackendUnavailableError(`deadline of ${opts.deadlineMs} ms exceeded`);
    }
    busyUntil = begins + opts.serviceMs;
    server.served += 1;
    await new Promise((resolve) => setTimeout(resolve, busyUntil - issued));
  };
  for (const method of ['get', 'list', 'guardedPut', 'guardedPutAll', 'tryAcquire', 'delete'] as const) backend.before(method, hook);
  return server;
}
