import zookeeper from 'node-zookeeper-client';
import type { Clock } from '../../clock.js';
import { BackendStorageError, BackendUnavailableError } from '../../errors.js';

/** A reply callers branch on: success, or an error code a server sent. */
export type Reply<T> = { ok: true; value: T } | { ok: false; code: number };

// Codes the library makes up locally (no server answered), as opposed to codes a server sent.
const LOCAL_CODES = new Set([-4, -112, -115]);
const AUTH_CODES = new Set([-102, -114, -115]);

/**
 * Runs one client-library call (`send` hands it the callback) with a deadline the library lacks.
 * Rejects with `BackendUnavailableError` when no reply comes within `limitMs`, on a connection loss
 * or an expired session; with `BackendStorageError` on missing permissions or a library error.
 * Any other error code is a server's answer, resolved as `{ ok: false, code }`. `onAck(sentAt)`
 * runs for every server answer, including one that arrives after the deadline.
 */
export function callWithDeadline<T>(
  clock: Clock,
  limitMs: number,
  what: string,
  send: (cb: (error: unknown, value?: T) => void) => void,
  onAck: (sentAt: number) => void,
): Promise<Reply<T>> {
  const sentAt = clock.monotonic();
  return new Promise((resolve, reject) => {
    let settled = false;
    const cancel = clock.setTimer(limitMs, () => {
      if (settled) return;
      settled = true;
      reject(new BackendUnavailableError(`zookeeper ${what}: no reply within ${limitMs}ms`));
    });
    const cb = (error: unknown, value?: T): void => {
      const code = error instanceof zookeeper.Exception ? error.getCode() : undefined;
      // A late answer still proves the server heard from this session at `sentAt`.
      if (error == null || (code !== undefined && !LOCAL_CODES.has(code))) onAck(sentAt);
      if (settled) return;
      settled = true;
      cancel();
      const name = error instanceof zookeeper.Exception ? error.getName() : String(error);
      if (error == null) resolve({ ok: true, value: value as T });
      else if (code === undefined) reject(new BackendStorageError(`zookeeper ${what}: ${name}`, error));
      else if (AUTH_CODES.has(code)) reject(new BackendStorageError(`zookeeper ${what}: ${name}`, error));
      else if (LOCAL_CODES.has(code)) reject(new BackendUnavailableError(`zookeeper ${what}: ${name}`, error));
      else resolve({ ok: false, code });
    };
    try {
      send(cb);
    } catch (error) {
      cb(error);
    }
  });
}

/** The error for a server answer the caller has no branch for. */
export function unexpected(op: string, path: string, code: number): BackendStorageError {
  return new BackendStorageError(`zookeeper ${op} ${path}: unexpected error code ${code}`);
}
