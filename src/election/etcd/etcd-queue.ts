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
  /** create_revision of the oldest key under the prefix: the holder. */
  holderRev: bigint;
}

/**
 * The lock core shared by the election and every lock, with etcd's `clientv3/concurrency` layout
 * and rule (election.go, mutex.go, key.go): each session puts `<prefix>/<lease hex>`; the key with
 * the lowest create_revision holds; a waiter watches only the deletion of its predecessor (the
 * key with the greatest create_revision below its own), then re-checks. `etcdctl elect` and
 * `etcdctl lock` therefore see and respect lockd's keys, and lockd theirs.
 */
export class EtcdQueue {
  constructor(
    private readonly rpc: EtcdRpc,
    private readonly log: Logger,
  ) {}

  /**
   * Puts a new key for the session under `prefix` and reads the holder, in one txn. A key of this
   * session that is still there (a release whose delete failed, an enqueue whose answer was lost)
   * is never reused: its create_revision may already have been handed out as a token, and a
   * pending retry of its delete would remove the new claim. It is deleted (on its revision) and a
   * fresh key created. Throws `LeadershipLostError` when etcd no longer knows the session's lease,
   * `BackendUnavailableError` when etcd cannot be reached.
   */
  async enqueue(prefix: string, session: EtcdSession, value: string): Promise<QueueEntry> {
    const key = leaseKey(prefix, session.leaseId);
    const keyBuf = Buffer.from(key);
    for (let attempt = 1; ; attempt++) {
      const res = await this.rpc.txn(
        {
          // Only a key that does not exist yet is created: an old one's token is spent.
          compare: [{ key: keyBuf, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [
            // Our key, attached to the session's lease so it dies with the session.
            { request_put: { key: keyBuf, value: Buffer.from(value), lease: session.leaseId } },
            // The holder as of this revision: if it is us, no wait.
            { request_range: firstCreated(prefix) },
          ],
          // The stale key, to delete it on its own revision.
          failure: [{ request_range: { key: keyBuf, keys_only: true } }],
        },
        'enqueue',
      );
      if (res.succeeded) {
        const rev = BigInt(res.header.revision);
        const holderKv = res.responses[1]?.response_range.kvs[0];
        return { key, rev, holderRev: holderKv ? BigInt(holderKv.create_revision) : rev };
      }
      const stale = res.responses[0]?.response_range.kvs[0];
      if (attempt >= 3) throw new BackendUnavailableError(`etcd: the stale key ${key} could not be replaced`);
      if (stale) await this.deleteAt(key, BigInt(stale.create_revision));
    }
  }

  /**
   * Waits until no key under `prefix` is older than ours (we hold), then confirms our key still
   * exists. Resolves true when we hold, false when our key vanished (the caller enqueues again).
   * Rejects with `signal.reason` on abort. Transient errors are retried while waiting.
   */
  async waitTurn(prefix: string, entry: QueueEntry, signal: AbortSignal): Promise<boolean> {
    while (true) {
      signal.throwIfAborted();
      let predecessor: IKeyValue | undefined;
      let revision: bigint;
      try {
        const res = await this.rpc.txn(
          {
            success: [
              // The key just before ours; only its deletion can make us the holder.
              { request_range: { ...allUnder(prefix), max_create_revision: (entry.rev - 1n).toString(), sort_order: 'Descend', sort_target: 'Create', limit: 1 } },
              // Ours, read at the same revision: gone means the session or an operator deleted it.
              { request_range: { key: Buffer.from(entry.key), keys_only: true } },
            ],
          },
          'queue check',
        );
        if (res.responses[1]?.response_range.kvs.length === 0) return false;
        predecessor = res.responses[0]?.response_range.kvs[0];
        revision = BigInt(res.header.revision);
      } catch (err) {
        if (!(err instanceof BackendUnavailableError)) throw err;
        this.log.debug({ prefix, err: err.message }, 'queue check failed; retrying');
        await abortableSleep(200, signal);
        continue;
      }
      if (!predecessor) return true;
      await waitForDelete(this.rpc, predecessor.key.toString(), revision + 1n, signal);
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

/** The oldest key under `prefix`: the holder (etcd's `WithFirstCreate`). */
export function firstCreated(prefix: string): IRangeRequest {
  return { ...allUnder(prefix), sort_order: 'Ascend', sort_target: 'Create', limit: 1 };
}

/** Every key of the queue, oldest first. */
export function allByCreation(prefix: string): IRangeRequest {
  return { ...allUnder(prefix), sort_order: 'Ascend', sort_target: 'Create' };
}
