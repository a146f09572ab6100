import { PUT_ALL_MAX_BYTES, PUT_ALL_MAX_ENTRIES, type KeyValue } from '../election/backend.js';
import type { JobTracker } from './job-tracker.js';
import { Limiter } from './limiter.js';
import { jobStateKey } from './records.js';
import type { SchedulerContext } from './scheduler-options.js';
import { whileLeading } from './start-reads.js';

/**
 * Baseline batches in flight at once, each one backend transaction of up to 100 states. etcd
 * commits concurrent txns together: 10,000 baselines took ~1 s at 4 in flight and ~0.4 s at 16 (2
 * shared cores, loopback); 16 × 100 puts still leave each call far inside its deadline (etcd at
 * TTL 2 s: 1 s, stamped when issued).
 */
export const BASELINE_BATCHES_IN_FLIGHT = 16;

type Ctx = Pick<SchedulerContext, 'backend' | 'clock' | 'logger' | 'leader'>;

/**
 * Writes the baseline `jobs/<job>` state (`lastSlot` = `now`, the term's start) of every tracker
 * in `fresh` (jobs no leader has stored a state for) with `guardedPutAll`: up to 100 states per
 * transaction under the leader lease, `BASELINE_BATCHES_IN_FLIGHT` at a time, each retried while it
 * fails with `BackendUnavailableError` and the lease is valid (see `whileLeading`). Resolves once
 * every state is written; rejects with `LeadershipLostError` when the lease goes first (some
 * batches may be written by then), or with any other error a write throws.
 *
 * Why before the timer is armed, and what a failover in between means: the baseline is where every
 * later leader's misfire scan starts counting the job's slots. The caller arms nothing until this
 * resolves, so no slot of these jobs has been handled by this term while any baseline is missing.
 * - A failover before a batch is written (this leader dies, or its lease goes): those jobs still
 *   have no state; the next leader takes them, as this one did, for jobs new to the cluster and
 *   writes its own baseline at its own start. No slot is handled twice, and none is lost from a
 *   term that was scheduling: a job's slots count from its first stored state, and this term
 *   never scheduled them. Bulk writing does not change that rule, it shortens the window (10,000
 *   jobs: 100 transactions instead of 10,000).
 * - A failover after some batches are written: those jobs start at `now`; the next leader records
 *   their slots since then as missed (`no_leader`) or runs them by misfire policy, as after any
 *   term that ended.
 * - Deferring the writes until after arming would break this: a slot due before its job's
 *   baseline landed would wait for it, and a failover then would leave a slot of a scheduling
 *   term neither run nor recorded (the next leader, finding no state, starts after it).
 * - A retried batch (an ambiguous failure: it may have been applied) writes the same states again.
 *   Nothing else writes these keys meanwhile: every state write is guarded by the leader lease,
 *   and this term writes a job's state only from the job's line, and the line of a job without a
 *   state gets no step before the timer is armed.
 */
export async function writeBaselines(ctx: Ctx, fresh: readonly JobTracker[], now: number): Promise<void> {
  const entries: KeyValue[] = [];
  for (const t of fresh) {
    t.lastSlot ??= now;
    const value = t.stateText();
    if (value !== undefined) entries.push({ key: jobStateKey(t.name), value });
  }
  const limiter = new Limiter(BASELINE_BATCHES_IN_FLIGHT);
  await Promise.all(batches(entries).map((batch) => limiter.run(() => whileLeading(ctx, 'writing baseline job states', () => ctx.backend.guardedPutAll(ctx.leader, batch)))));
}

/** `entries` in order, cut into runs that each fit one `guardedPutAll` (count and bytes). */
function batches(entries: readonly KeyValue[]): KeyValue[][] {
  const out: KeyValue[][] = [];
  let batch: KeyValue[] = [];
  let bytes = 0;
  for (const e of entries) {
    const size = Buffer.byteLength(e.key) + Buffer.byteLength(e.value);
    if (batch.length > 0 && (batch.length === PUT_ALL_MAX_ENTRIES || bytes + size > PUT_ALL_MAX_BYTES)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(e);
    bytes += size;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}
