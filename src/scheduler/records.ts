/**
 * What the scheduler stores in the backend, and where (logical keys, see src/election/backend.ts).
 * `lockd status` and `lockd history` read these, so the shapes are part of the contract.
 */

/**
 * `unknown`: the leader that started the run lost its lease before recording the outcome (see
 * `settleOrphanRuns`).
 */
export type RunOutcome = 'running' | 'success' | 'failed' | 'timeout' | 'killed' | 'skipped' | 'missed' | 'unknown';

/** Why a slot was not run. */
export type NotRunReason =
  | 'overlap' // the previous run of this job was still running (overlap: skip)
  | 'lock_held' // another client holds the job lock (e.g. `etcdctl lock`, a fenced-out old leader's job)
  | 'seats_full' // every seat of the job's seat set was held (or waited for) by others (overlap: skip)
  | 'no_leader' // no leader was scheduling at the slot's time and misfire policy did not run it
  | 'misfire_skip' // misfire: skip
  | 'deadline' // the slot could not start before its deadline (queue wait, late start)
  | 'leadership_lost' // leadership was lost between the slot and the start
  | 'clock_step' // the wall clock stepped forward over the slot (and the majority of replicas agreed with it); misfire policy applied
  | 'backend_data_loss'; // the backend lost its data (Redis restarted without persistence) after the last slot known handled: never caught up

/** `runs/<job>/<slot ms>`: one record per slot (or manual run), created if absent, then updated. */
export interface RunRecord {
  job: string;
  /** Epoch ms the cron expression names (or the trigger time for a manual run). */
  slot: number;
  /** `<job>:<slot ms>` */
  runId: string;
  scheduledAt: string;
  manual?: boolean;
  /** Node of the leader that wrote this record. */
  node: string;
  /** Fencing token handed to the job (decimal), absent when it did not run. */
  token?: string;
  /** The token of the job's seat (`seats`, `LOCKD_SEAT_TOKEN`, decimal), absent without seats. */
  seatToken?: string;
  /** The leader's election token when it wrote this record (decimal). */
  leaderToken: string;
  outcome: RunOutcome;
  reason?: NotRunReason | string;
  attempt: number;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  exitCode?: number | null;
  signal?: string | null;
  /** The last `output_tail` bytes of output (4 KiB by default). */
  output?: string;
}

/** `jobs/<job>`: what misfire handling and `status` need without listing runs. */
export interface JobState {
  /** The newest slot handled (run, skipped or missed), epoch ms. */
  lastSlot: number;
  lastRunId: string;
  /** Count of slots recorded `missed`, including ones beyond the individual-record cap. */
  missedTotal: number;
  /** Count of slots recorded `skipped` (absent in states written before it existed: 0). */
  skippedTotal?: number;
  updatedAt: string;
}

export const runsPrefix = (job: string): string => `runs/${job}/`;
/**
 * `runs/<job>/<slot ms>` for a scheduled slot; `runs/<job>/<ms>m` for a manual run, which has a key
 * space of its own so a trigger in a slot's very millisecond never takes that slot's record.
 */
export const runKey = (job: string, slot: number, manual = false): string => `runs/${job}/${slot}${manual ? 'm' : ''}`;
/** The key of `record` (see `runKey`). */
export const recordKey = (record: Pick<RunRecord, 'job' | 'slot' | 'manual'>): string => runKey(record.job, record.slot, record.manual === true);
export const jobStateKey = (job: string): string => `jobs/${job}`;
/**
 * `losses/<epoch>`: written (guarded) by the first leader that has handled a backend data loss
 * (`Backend.dataLoss`: every job without state had the slots since the loss recorded missed), so
 * that a later leader treats a job without state as new again.
 */
export const dataLossKey = (epoch: string): string => `losses/${epoch}`;
/** `<job>:<slot ms>`, and `<job>:<ms>m` for a manual run. */
export const runId = (job: string, slot: number, manual = false): string => `${job}:${slot}${manual ? 'm' : ''}`;
/** The epoch ms a key below `runsPrefix(job)` names (`suffix` is the part after the prefix); NaN for anything else. */
export const slotOfRunKey = (suffix: string): number => (/^\d+m?$/.test(suffix) ? Number.parseInt(suffix, 10) : Number.NaN);
