import type { Backend } from './backend.js';

/**
 * The self-fencing timeline of one backend session (DESIGN §1.4), counted from S, the send time of
 * the session's last acknowledged renewal, on CLOCK_MONOTONIC:
 *
 * ```
 * S + ttl − margin − lossGrace   validUntil: the session stops vouching for its leases. Nothing
 *                                starts any more, every lease signal aborts, runs get SIGTERM.
 * S + ttl − margin               killBy: every process of a run under the session has had SIGKILL
 *                                (lockd's runner, and the watchdog process whatever lockd is doing).
 * S + ttl                        the earliest instant the backend can expire the session and grant
 *                                its leases to another holder.
 * ```
 *
 * So a run's process group is gone before another holder can exist, and the session is given up
 * (revoke, delete, close) only after that. `margin` leaves room for the SIGKILLed processes to die
 * and for timer lateness; `lossGrace` is the longest SIGTERM → SIGKILL wait a lease loss allows:
 * a job's `kill_grace` applies in full to timeouts and shutdown, and is capped at `lossGrace` on
 * lease loss. A loss the backend reports (lease gone, session expired) means another holder may
 * exist already: then killBy is now, and the group gets SIGKILL at once.
 */
export interface FencingWindow {
  marginMs: number;
  lossGraceMs: number;
}

/**
 * The window of a backend kind at TTL `ttlMs` (ZooKeeper: the negotiated session timeout): margin
 * TTL/5, at least 500 ms (etcd, PostgreSQL, Redis), 300 ms (embedded) or 100 ms (ZooKeeper, whose requests carry their
 * own deadlines), at most TTL/3. The loss grace equals the margin, so at least a third of the TTL
 * is vouched for.
 */
export function fencingWindow(kind: Backend['kind'], ttlMs: number): FencingWindow {
  const floorMs = { etcd: 500, embedded: 300, zookeeper: 100, postgres: 500, redis: 500 }[kind];
  const marginMs = Math.min(Math.max(floorMs, Math.round(ttlMs / 5)), ttlMs / 3);
  return { marginMs, lossGraceMs: marginMs };
}

/**
 * How long a session may go without an acknowledged renewal before it stops vouching:
 * `ttl − margin − lossGrace`.
 */
export function vouchedMs(kind: Backend['kind'], ttlMs: number): number {
  const { marginMs, lossGraceMs } = fencingWindow(kind, ttlMs);
  return ttlMs - marginMs - lossGraceMs;
}

/**
 * The renewal interval: a third of `vouchedMs`, so one failed renewal still leaves a third for
 * the next try; on etcd a sixth. While etcd elects a new raft leader no member answers a
 * keep-alive, so the session survives the election only if it ends within `vouchedMs` of the last
 * acknowledgement; renewing more often leaves that acknowledgement closer to the start of the
 * election (TTL 3 s: at least 1.5 s for the election instead of 1.2 s; TTL 10 s: 5 s).
 */
export function renewalIntervalMs(kind: Backend['kind'], ttlMs: number): number {
  return vouchedMs(kind, ttlMs) / (kind === 'etcd' ? 6 : 3);
}
