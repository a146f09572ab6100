import type { ICompare, IRequestOp } from 'etcd3';
import { checkPutAll, type KeyValue, type Lease } from '../backend.js';
import { LeadershipLostError, UsageError } from '../../errors.js';
import { prefixRangeEnd, type EtcdLayout } from './etcd-keys.js';
import { EtcdLease } from './etcd-lease.js';
import type { EtcdRpc } from './etcd-rpc.js';

/**
 * Data keys (`lockd/<cluster>/<key>`): guarded writes fenced by lease keys, and plain reads and
 * writes. Errors are lockd's typed errors (see `EtcdRpc`).
 */
export class EtcdData {
  constructor(
    private readonly rpc: EtcdRpc,
    private readonly layout: EtcdLayout,
  ) {}

  /**
   * Writes `key = value` in one txn that compares every guard key's create_revision with its
   * token (and, for `ifAbsent`, the target's create_revision with 0). Returns false only when
   * `ifAbsent` and the key exists — unless the answer is `replayed` (an earlier copy of this txn
   * may have been applied: `EtcdRpc` sends a txn again after an unknown outcome) and the target
   * holds exactly `value`: that is this call's own write, and counts as written. Throws
   * `LeadershipLostError` (aborting the guard) when a guard is gone or past its self-fencing
   * deadline, `UsageError` for a guard of another backend kind or a seat (several hold a seat set
   * at once, so a seat grants no exclusive right to write).
   */
  async guardedPut(guards: Lease | readonly Lease[], key: string, value: string, opts: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const checked = validGuards(guards);
    const target = Buffer.from(this.layout.data(key));
    const compare = guardCompares(checked);
    if (opts.ifAbsent) {
      // The target does not exist yet (a run record is written once).
      compare.push({ key: target, target: 'Create', result: 'Equal', create_revision: 0 });
    }
    const failure = guardReads(checked);
    // On failure, the existing target: after a replay, holding our value, it is our first copy's.
    if (opts.ifAbsent) failure.push({ request_range: { key: target } });
    const written = Buffer.from(value);
    const res = await this.rpc.txn(
      {
        compare,
        // The write itself, without a lease: records outlive the session that wrote them.
        success: [{ request_put: { key: target, value: written } }],
        failure,
      },
      'guarded put',
    );
    if (res.succeeded) return true;
    throwLostGuard(checked, res.responses);
    if (opts.ifAbsent) return res.replayed && res.responses[checked.length]?.response_range.kvs[0]?.value.equals(written) === true;
    throw new LeadershipLostError('guarded put failed although every guard is held');
  }

  /**
   * Writes every entry in one txn that compares every guard key's create_revision with its token
   * (see `Backend.guardedPutAll`). A replayed copy (see `EtcdRpc`) writes the same values again
   * while the guards hold, and fails its compare once they do not. Throws as `guardedPut` does,
   * and `UsageError` for entries `checkPutAll` refuses.
   */
  async guardedPutAll(guards: Lease | readonly Lease[], entries: readonly KeyValue[]): Promise<void> {
    checkPutAll(entries);
    const checked = validGuards(guards);
    if (entries.length === 0) return;
    const res = await this.rpc.txn(
      {
        compare: guardCompares(checked),
        // The writes, without a lease: job states and records outlive the session that wrote them.
        success: entries.map((e) => ({ request_put: { key: Buffer.from(this.layout.data(e.key)), value: Buffer.from(e.value) } })),
        failure: guardReads(checked),
      },
      'guarded put of several keys',
    );
    if (res.succeeded) return;
    throwLostGuard(checked, res.responses);
    throw new LeadershipLostError('guarded put of several keys failed although every guard is held');
  }

  async put(key: string, value: string): Promise<void> {
    await this.rpc.put({ key: Buffer.from(this.layout.data(key)), value: Buffer.from(value) }, 'put');
  }

  async get(key: string): Promise<string | undefined> {
    const res = await this.rpc.range({ key: Buffer.from(this.layout.data(key)) }, 'get');
    return res.kvs[0]?.value.toString();
  }

  async list(prefix: string): Promise<KeyValue[]> {
    const full = `${this.layout.root}${prefix}`;
    const res = await this.rpc.range({ key: Buffer.from(full), range_end: prefixRangeEnd(full), sort_order: 'Ascend', sort_target: 'Key' }, 'list');
    return res.kvs
      .map((kv) => ({ full: kv.key.toString(), value: kv.value.toString() }))
      .filter((kv) => !this.layout.isReserved(kv.full))
      .map((kv) => ({ key: this.layout.logical(kv.full), value: kv.value }));
  }

  async delete(key: string): Promise<void> {
    await this.rpc.deleteRange({ key: Buffer.from(this.layout.data(key)) }, 'delete');
  }
}

/** `guards` as this backend's leases; throws `UsageError` for another kind or a seat, `LeadershipLostError` for one no longer valid. */
function validGuards(guards: Lease | readonly Lease[]): EtcdLease[] {
  const leases = (Array.isArray(guards) ? guards : [guards]) as readonly Lease[];
  const checked = leases.map((lease) => {
    if (!(lease instanceof EtcdLease)) throw new UsageError('guardedPut: every guard must be a lease of this etcd backend');
    if (lease.isSeat) throw new UsageError(`guardedPut: a seat of "${lease.name}" (token ${lease.token}) is a seat; only a lock or leadership can guard a write`);
    return lease;
  });
  for (const lease of checked) {
    // Self-fencing: past the deadline we cannot vouch for the key, even if etcd still has it.
    if (!lease.isValid()) throw lostGuard(lease, 'is not valid (released, lost, or past its deadline)');
  }
  return checked;
}

/** The compares that fence a write by `guards`. */
function guardCompares(guards: readonly EtcdLease[]): ICompare[] {
  return guards.map((lease) => ({
    // The guard's key still exists with the revision that is its token: still the holder.
    key: Buffer.from(lease.key),
    target: 'Create',
    result: 'Equal',
    create_revision: lease.token.toString(),
  }));
}

/** The failure branch's reads of the guard keys, for `throwLostGuard`. */
function guardReads(guards: readonly EtcdLease[]): IRequestOp[] {
  return guards.map((lease) => ({
    // On failure, tells a lost guard apart from an existing target.
    request_range: { key: Buffer.from(lease.key), keys_only: true },
  }));
}

/** Throws `LeadershipLostError` (aborting it) for the first guard whose key the failure branch found gone or replaced. */
function throwLostGuard(guards: readonly EtcdLease[], responses: readonly { response_range: { kvs: readonly { create_revision: string }[] } }[]): void {
  guards.forEach((lease, i) => {
    const kv = responses[i]?.response_range.kvs[0];
    if (kv === undefined || BigInt(kv.create_revision) !== lease.token) throw lostGuard(lease, 'key is gone from etcd');
  });
}

function lostGuard(lease: EtcdLease, why: string): LeadershipLostError {
  const err = new LeadershipLostError(`guard ${lease.name} (token ${lease.token}) ${why}`);
  lease.lose(err);
  return err;
}
