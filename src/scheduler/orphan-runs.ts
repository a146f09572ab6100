import { recordKey, runsPrefix, type RunRecord } from './records.js';
import type { SchedulerContext } from './scheduler-options.js';

/**
 * A new leader settles the run records an earlier leader left `running` while nobody holds the
 * job's lock any more: that leader lost its lease before it could record the outcome, so the run
 * was killed by its self-fencing, or (if that leader process crashed) may have finished on its
 * own. Nobody will ever write the outcome, so the record becomes `unknown` / `leadership_lost`
 * instead of `running` forever. While the lock is held (an earlier leader still draining its run
 * after resigning) the records are left for their owner. Call before any run of `job` starts.
 * Guarded by the leader and the lock; failures are logged, never thrown.
 */
export async function settleOrphanRuns(ctx: SchedulerContext, job: string): Promise<void> {
  const leaderToken = ctx.leader.token.toString();
  if (ctx.busyElsewhere(job)) return;
  try {
    const records = (await ctx.backend.list(runsPrefix(job))).map((kv) => JSON.parse(kv.value) as RunRecord);
    const orphans = records.filter((r) => r.outcome === 'running' && r.leaderToken !== leaderToken);
    if (orphans.length === 0) return;
    const lock = await ctx.backend.tryAcquire(job);
    if (lock === null) return;
    try {
      for (const listed of orphans) {
        // Read again under the lock: the earlier leader may have recorded the outcome and
        // released the lock between the listing and now; once we hold it, it can write no more.
        const current = await ctx.backend.get(recordKey(listed));
        const record = current === undefined ? undefined : (JSON.parse(current) as RunRecord);
        if (record?.outcome !== 'running' || record.leaderToken === leaderToken) continue;
        const settled: RunRecord = { ...record, outcome: 'unknown', reason: 'leadership_lost', endedAt: new Date(ctx.clock.now()).toISOString() };
        await ctx.backend.guardedPut([ctx.leader, lock], recordKey(record), JSON.stringify(settled));
        ctx.logger.warn({ job, run_id: record.runId, node: record.node }, 'run left running by an earlier leader recorded as unknown');
      }
    } finally {
      await lock.release();
    }
  } catch (err) {
    ctx.logger.warn({ err, job }, 'could not settle runs left running by an earlier leader');
  }
}
