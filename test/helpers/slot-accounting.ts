import assert from 'node:assert/strict';
import { nextSlot } from '../../src/scheduler/cron-slots.js';
import type { RunRecord } from '../../src/scheduler/records.js';
import type { LedgerEntry } from './ledger.js';

/** Outcomes that say why a slot did not run; each needs a reason. */
const NOT_RUN = new Set(['missed', 'skipped']);

/**
 * "Every slot accounted for" (DESIGN §1.2), as every process test checks it: for each slot the
 * schedule names in `[from, to]`, exactly one of
 * - it ran once (one ledger line; its run record, when `records` reach back that far, is not a
 *   not-run outcome), or
 * - a record says it did not run (`missed` / `skipped`) with a reason;
 * and no slot ran twice; with `totals`, `missedTotal` and `skippedTotal` equal the records' counts
 * (for a job whose records were never pruned). `records` are the job's run records (`lockd
 * history JOB --json`).
 */
export function assertSlotsAccounted(opts: {
  schedule: string;
  timezone?: string;
  ledger: LedgerEntry[];
  records: RunRecord[];
  from: number;
  to: number;
  /** The job's stored totals (`lockd status --json`): they must equal the records' counts. */
  totals?: { missedTotal: number; skippedTotal: number };
}): void {
  const job = { schedule: opts.schedule, timezone: opts.timezone ?? 'UTC' };
  const ran = new Map<number, number>();
  for (const e of opts.ledger) ran.set(e.slot, (ran.get(e.slot) ?? 0) + 1);
  const bySlot = new Map(opts.records.filter((r) => r.manual !== true).map((r) => [r.slot, r]));
  const problems: string[] = [];
  for (let slot = nextSlot(job, opts.from - 1); slot <= opts.to; slot = nextSlot(job, slot)) {
    const runs = ran.get(slot) ?? 0;
    const record = bySlot.get(slot);
    const at = new Date(slot).toISOString();
    if (runs > 1) problems.push(`${at} ran ${runs} times`);
    else if (runs === 1 && record !== undefined && NOT_RUN.has(record.outcome)) problems.push(`${at} ran, but its record says ${record.outcome}/${record.reason}`);
    else if (runs === 0 && record === undefined) problems.push(`${at} neither ran nor has a record`);
    else if (runs === 0 && !NOT_RUN.has(record!.outcome)) problems.push(`${at} did not run, but its record says ${record!.outcome}`);
    else if (runs === 0 && (record!.reason === undefined || record!.reason === '')) problems.push(`${at} is recorded ${record!.outcome} without a reason`);
  }
  assert.deepEqual(problems, [], `slots not accounted for:\n${problems.join('\n')}`);
  if (opts.totals !== undefined) {
    const count = (outcome: string): number => opts.records.filter((r) => r.outcome === outcome).length;
    assert.deepEqual(
      { missedTotal: opts.totals.missedTotal, skippedTotal: opts.totals.skippedTotal },
      { missedTotal: count('missed'), skippedTotal: count('skipped') },
      'the stored missed/skipped totals do not match the records',
    );
  }
}

/** The first per-second slot strictly after `wall` (epoch ms). */
export function firstSlotAfter(wall: number): number {
  return Math.floor(wall / 1000) * 1000 + 1000;
}

/** Per-second slots from `from` to `to`, both included. */
export function slotsIn(from: number, to: number): number[] {
  const slots: number[] = [];
  for (let s = from; s <= to; s += 1000) slots.push(s);
  return slots;
}
