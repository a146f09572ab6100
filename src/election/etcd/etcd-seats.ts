import type { IKeyValue } from 'etcd3';
import type { CandidateInfo, LockView } from '../backend.js';
import { parseCandidate } from './etcd-keys.js';

/**
 * The value of a seat key: JSON of the holder's `CandidateInfo` (when given) plus `seats`, the
 * seat count this holder asked for, so that `locks()` can tell holders from waiters.
 */
export function seatValue(info: CandidateInfo | undefined, seats: number): string {
  return JSON.stringify({ ...info, seats });
}

/** The seat count a seat key's value recorded; 1 for a value lockd did not write. Never throws. */
export function seatsOf(raw: string): number {
  try {
    const seats = (JSON.parse(raw) as { seats?: unknown } | null)?.seats;
    return typeof seats === 'number' && Number.isInteger(seats) && seats >= 1 ? seats : 1;
  } catch {
    return 1;
  }
}

/** The holder a seat key's value names; null when it records none (acquired without `info`, or foreign). */
function seatHolder(raw: string): CandidateInfo | null {
  try {
    const parsed = JSON.parse(raw) as { node?: unknown } | null;
    return typeof parsed?.node === 'string' ? parseCandidate(raw) : null;
  } catch {
    return null;
  }
}

/**
 * The `locks()` entries of every seat set under `seatsPrefix` (`lockd/<cluster>/seat`), from
 * `kvs`: all its keys, oldest first. A set's first k keys hold, k as its oldest key recorded it;
 * each holder is one entry with `seats` = k and `waiting` = the keys behind all holders.
 */
export function seatViews(seatsPrefix: string, kvs: readonly IKeyValue[]): LockView[] {
  const sets = new Map<string, IKeyValue[]>();
  for (const kv of kvs) {
    const rest = kv.key.toString().slice(seatsPrefix.length + 1);
    const name = rest.slice(0, rest.lastIndexOf('/'));
    const set = sets.get(name);
    if (set) set.push(kv);
    else sets.set(name, [kv]);
  }
  const views: LockView[] = [];
  for (const [name, set] of sets) {
    const seats = seatsOf(set[0]!.value.toString());
    const holders = set.slice(0, seats);
    for (const kv of holders) {
      views.push({ name, token: BigInt(kv.create_revision), holder: seatHolder(kv.value.toString()), waiting: set.length - holders.length, seats });
    }
  }
  return views;
}
