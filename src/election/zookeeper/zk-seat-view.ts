import type { LockView } from '../backend.js';
import { decodeCandidate, decodeSeatCount } from './candidate-data.js';
import { LEASE_NODE_NAME, sortBySequence } from './protected-node.js';
import type { ZkClient } from './zk-client.js';
import { SEAT_LEASES, SEAT_LOCKS } from './zk-seat.js';

/**
 * The holders of every seat set under `seatsDir` (one InterProcessSemaphoreV2 path per set), sorted
 * by set name, each set's holders in token order. Without taking part.
 *
 * The set's count is the one the first lockd lease node in sequence order recorded (Curator's
 * lease nodes record none), else 1. The holders are the first `seats` lease nodes in sequence
 * order; `waiting` is the larger of the nodes queued on the internal mutex (each acquirer's, the
 * current mutex holder's included) and the lease nodes beyond the first `seats` (the mutex
 * holder's own while the set is full), so the mutex holder, which has one of each, counts once.
 * A foreign holder's info is decoded as for locks (`node` = its data as text), null when it wrote
 * no data. A set with no lease node is not listed. Throws `BackendUnavailableError` if unreachable.
 */
export async function listSeatHolders(client: ZkClient, seatsDir: string): Promise<LockView[]> {
  const names = ((await client.getChildren(seatsDir)) ?? []).sort();
  const sets = await Promise.all(names.map((name) => listSet(client, name, `${seatsDir}/${name}`)));
  return sets.flat();
}

async function listSet(client: ZkClient, name: string, dir: string): Promise<LockView[]> {
  const [lockers, leases] = await Promise.all([client.getChildren(`${dir}/${SEAT_LOCKS}`), client.getChildren(`${dir}/${SEAT_LEASES}`)]);
  const sorted = sortBySequence(leases ?? [], LEASE_NODE_NAME);
  // A holder may release between the reads: it is then left out.
  const read = await Promise.all(sorted.map((child) => client.getData(`${dir}/${SEAT_LEASES}/${child}`)));
  const nodes = read.filter((n) => n !== null);
  const seats = nodes.map((n) => decodeSeatCount(n.data)).find((s) => s !== undefined) ?? 1;
  const holders = nodes.slice(0, seats);
  const waiting = Math.max((lockers ?? []).length, nodes.length - holders.length);
  return holders.map((n) => ({
    name,
    token: n.stat.czxid,
    holder: n.data?.length ? decodeCandidate(n.data, n.stat) : null,
    waiting,
    seats,
  }));
}
