import { BackendUnavailableError } from '../../errors.js';
import type { RedisRawClient } from './redis-link.js';

/** What `confirmReplicas` needs besides the connection. */
export interface ReplicaAck {
  /** How many replicas must have the write (`min_replicas_ack`, ≥ 1 here). */
  replicas: number;
  /** A channel nobody subscribes to (`lockd:{<cluster>}:ack`), for the marker PUBLISH. */
  markerChannel: string;
}

/**
 * Waits until `ack.replicas` replicas have every write the server acknowledged so far on this
 * connection's replication stream, by `WAIT replicas timeoutMs`, and rejects with
 * `BackendUnavailableError` (the write's outcome is then unknown, exactly as for a lost reply)
 * when fewer confirm within `timeoutMs` or no time is left.
 *
 * WAIT covers only writes up to the connection's last propagated command, and a script that
 * changed nothing propagates nothing: a retry of an idempotent write after a lost reply (on a new
 * connection) would then be "confirmed" at once while the first attempt's effect may still be
 * unreplicated. So a PUBLISH to `markerChannel` (replicated like a write, stored nowhere) goes
 * first: the replication stream is ordered, so once a replica has the marker it has everything
 * before it, including the earlier attempt.
 */
export async function confirmReplicas(client: RedisRawClient, ack: ReplicaAck, timeoutMs: number, what: string): Promise<void> {
  const waitMs = Math.floor(timeoutMs);
  if (waitMs < 1) {
    throw new BackendUnavailableError(`redis backend: ${what}: no time left to wait for ${ack.replicas} replica(s); the write may be lost in a failover`);
  }
  const [, confirmed] = await Promise.all([
    client.sendCommand(['PUBLISH', ack.markerChannel, '']),
    client.sendCommand(['WAIT', String(ack.replicas), String(waitMs)]),
  ]);
  if (typeof confirmed !== 'number' || confirmed < ack.replicas) {
    throw new BackendUnavailableError(
      `redis backend: ${what}: ${String(confirmed)} of ${ack.replicas} replica(s) confirmed the write within ${waitMs} ms (WAIT); it may be lost in a failover`,
    );
  }
}
