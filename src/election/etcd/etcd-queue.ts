import type { Logger } from 'pino';
import type { IKeyValue, IRangeRequest } from 'etcd3';
import { BackendUnavailableError } from '../../errors.js';
import { leaseKey, prefixRangeEnd } from './etcd-keys.js';
import type { EtcdRpc } from './etcd-rpc.js';
import type { EtcdSession } from './etcd-session.js';
import { abortableSleep } from './etcd-signals.js';
import { waitForDelete } from './etcd-watch.js';

/** A session's key in the queue of one prefix. */
export interface QueueEntry {
  key: string;
  /** create_revision of `key`: its place in the queue and, once it holds, the fencing token. */
  rev: bigint;
  /** As of the enqueue: fewer than the queue's capacity keys under the prefix are older than `key`. */
  holds: boolean;
}

/**
 * The queue core shared by the election, every lock and every seat set, with etcd's
 * `clientv3/concurrency` layout and rule (election.go, mutex.go, key.go): each session puts
 * `<prefix>/<lease hex>`; a key holds while fewer than `capacity` keys under the prefix have a
 * lower create_revision. Capacity 1 (the election, a lock) is etcd's rule exactly: the oldest key
 * holds and a waiter watches only the deletion of its predecessor (the key with the greatest
 * create_revision below its own), then re-checks; `etcdctl elect` and `etcdctl lock` therefore
 * see and respect lockd's keys, and lockd theirs. With a larger capacity (a seat set) the
 * deletion of any older key may be the one that lets a waiter in, so it watches every deletion
 * under the prefix and re-checks on each.
 */
export class EtcdQueue {
  constructor(
    private readonly rpc: EtcdRpc,
    private readonly log: Logger,
  ) {}

  /**
   * Puts a new key for the session under `prefix` and reads the `capacity` oldest keys (the
   * holders, ours among them if it holds at once), in one txn. A key of this
   * session that is still there (a release whose delete failed, an enqueue whose answer was lost)
   * is never reused: its create_revision may already have been handed out as a token, and a
   * pending retry of its delete would remove the new claim. It is deleted (on its revision) and a
   * fresh key created. Throws `LeadershipLostError` when etcd no longer knows the session's lease,
   * `BackendUnavailableError` when etcd cannot be reached.
   */
  async enqueue(prefix: string, session: EtcdSession, value: string, capacity = 1, hold = ''): Promise<QueueEntry> {
    const key = leaseKey(prefix, session.leaseId, hold);
    const keyBuf = Buffer.from(key);
    for (let attempt = 1; ; attempt++) {
      const res = await this.rpc.txn(
        {
          // Only a key that does not exist yet is created: an old one's token is spent.
          compare: [{ key: keyBuf, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [
            // Our key, attached to the session's lease so it dies with the session.
            { request_put: { key: keyBuf, value: Buffer.from(value), lease: session.leaseId } },
            // The holders as of this revision: if we are one of them, no wait.
            { request_range: { ...allByCreation(prefix), limit: capacity, keys_only: true } },
          ],
          // The stale key, to delete it on its own revision.
          failure: [{ request_range: { key: keyBuf, keys_only: true } }],
        },
        'enqueue',
      );
      if (res.succeeded) {
        const rev = BigInt(res.header.revision);
        const holders = res.responses[1]?.response_range.kvs ?? [];
        return { key, rev, holds: holders.some((kv) => BigInt(kv.create_revision) === rev) };
      }
      const stale = res.responses[0]?.response_range.kvs[0];
      if (attempt >= 3) throw new BackendUnavailableError(`etcd: the stale key ${key} could not be replaced`);
      if (stale) await this.deleteAt(key, BigInt(stale.create_revision));
    }
  }

  /**
   * Waits until fewer than `capacity` keys under `prefix` are older than ours (we hold), reading
   * our key in the same txn. Resolves true when we hold, false when our key vanished (the caller
   * enqueues again). Rejects with `signal.reason` on abort. Transient errors are retried while
   * waiting. Each round is one read and one watch from the revision after it, so no deletion
   * between the two is missed.
   */
  async waitTurn(prefix: string, entry: QueueEntry, signal: AbortSignal, capacity = 1): Promise<boolean> {
    while (true) {
      signal.throwIfAborted();
      let ahead: IKeyValue[];
      let revision: bigint;
      try {
        const res = await this.rpc.txn(
          {
            success: [
              // Up to `capacity` keys just before ours: fewer than that and we hold.
              { request_range: { ...allUnder(prefix), max_create_revision: (entry.rev - 1n).toString(), sort_order: 'Descend', sort_target: 'Create', limit: capacity, keys_only: true } },
              // Ours, read at the same revision: gone means the session or an operator deleted it.
              { request_range: { key: Buffer.from(entry.key), keys_only: true } },
            ],
          },
          'queue check',
        );
        if (res.responses[1]?.response_range.kvs.length === 0) return false;
        ahead = res.responses[0]?.response_range.kvs ?? [];
        revision = BigInt(res.header.revision);
      } catch (err) {
        if (!(err instanceof BackendUnavailableError)) throw err;
        this.log.debug({ prefix, err: err.message }, 'queue check failed; retrying');
        await abortableSleep(200, signal);
        continue;
      }
      if (ahead.length < capacity) return true;
      // Capacity 1: only the predecessor's deletion can make us the holder. Else any older key's.
      if (capacity === 1) await waitForDelete(this.rpc, ahead[0]!.key.toString(), revision + 1n, signal);
      else await waitForDelete(this.rpc, `${prefix}/`, revision + 1n, signal, { prefix: true });
    }
  }

  /**
   * Deletes `key` if it is still the one created at `rev`, so a late retry can never delete a
   * newer holder's key. While etcd is unreachable it keeps retrying in the background while the session lives
   * (a key left behind would block everyone else). Resolves after the first attempt; never throws.
   */
  async remove(key: string, rev: bigint, session: EtcdSession): Promise<void> {
    // True when done: deleted, or failed in a way a retry cannot fix.
    const attempt = async (): Promise<boolean> => {
      try {
        await this.deleteAt(key, rev);
        return true;
      } catch (err) {
        this.log.warn({ key, err: String(err) }, 'deleting a lock key failed');
        return !(err instanceof BackendUnavailableError);
      }
    };
    if (await attempt()) return;
    const retry = (): void => {
      if (session.signal.aborted) return;
      setTimeout(() => void attempt().then((ok) => ok || retry()), 500);
    };
    retry();
  }

  /**
   * Deletes the session's `key` whatever its revision, after an enqueue whose outcome is unknown.
   * Retries in the background while the session lives and `stillAbandoned()` holds (a new claim
   * of the same name reuses the key instead). Never throws.
   */
  abandon(key: string, session: EtcdSession, stillAbandoned: () => boolean): void {
    const attempt = (): void => {
      if (session.signal.aborted || !stillAbandoned()) return;
      this.rpc.deleteRange({ key: Buffer.from(key) }, 'delete abandoned key').catch((err: unknown) => {
        if (err instanceof BackendUnavailableError) setTimeout(attempt, 500);
      });
    };
    attempt();
  }

  /** Deletes `key` only if it is still the one created at `rev`, never a newer key of the same name. */
  private async deleteAt(key: string, rev: bigint): Promise<void> {
    await this.rpc.txn(
      {
        // Still the key created at `rev`, not a newer one of the same name.
        compare: [{ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: rev.toString() }],
        // Give up that place (or the ownership) now rather than when the lease expires.
        success: [{ request_delete_range: { key: Buffer.from(key) } }],
      },
      'delete key',
    );
  }
}

/** Every key of the queue under `prefix` (i.e. under `<prefix>/`). */
function allUnder(prefix: string): IRangeRequest {
  return { key: Buffer.from(`${prefix}/`), range_end: prefixRangeEnd(`${prefix}/`) };
}

/** Every key of the queue, oldest first. */
export function allByCreation(prefix: string): IRangeRequest {
  return { ...allUnder(prefix), sort_order: 'Ascend', sort_target: 'Create' };
}
