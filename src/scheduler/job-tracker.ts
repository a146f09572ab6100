import type { JobConfig } from '../config/types.js';
import type { Lease } from '../election/backend.js';
import { jobStateKey, recordKey, runId, runKey, type JobState, type NotRunReason, type RunRecord } from './records.js';
import { RecordPruner } from './record-pruner.js';
import type { SchedulerContext } from './scheduler-options.js';
import { SerialGate } from './serial-gate.js';
import { settledPut } from './settled-put.js';
import { SlotLine } from './slot-line.js';

/** One slot being handled by this scheduler, from its overlap check to its last write. */
export interface ActiveRun {
  readonly runId: string;
  readonly slot: number;
  readonly manual: boolean;
  /** Aborted by `killAll` (the child is killed) or, while `waiting`, by `stopScheduling`. */
  readonly abort: AbortController;
  /** `waiting`: in the local queue; `starting`: locking/recording; `running`: a child was started. */
  phase: 'waiting' | 'starting' | 'running';
  token?: bigint;
  /** Epoch ms the first attempt was started. */
  startedAt?: number;
}

/**
 * The scheduler's memory of one job: its config, its runs in progress, its `jobs/<job>` state
 * and the run records it knows of. Record writes of not-run slots and of job state go through
 * here, always with `guardedPut` under the leader. Never throws from `recordNotRun`,
 * `saveState` or `prune`: failures are logged (a failed guarded write means leadership is going,
 * and the next leader's misfire scan records what this one could not).
 */
export class JobTracker {
  job: JobConfig;
  readonly active = new Set<ActiveRun>();
  /** Serialises `overlap: queue` runs. */
  readonly queue = new SerialGate();
  /** Serialises the brief lock of `overlap: allow`. */
  readonly lockGate = new SerialGate();
  /** The job's slots in slot order (see `SlotLine`). */
  readonly line = new SlotLine();
  /** Newest scheduled slot handled (recorded in any way); manual runs do not move it. */
  lastSlot: number | undefined;
  lastRunId = '';
  missedTotal = 0;
  /** Slots recorded `skipped` (overlap, lock held), kept like `missedTotal`. */
  skippedTotal = 0;
  readonly #ctx: SchedulerContext;
  #ready: Promise<void> = Promise.resolve();
  #stateDirty = false;
  #stateWrite: Promise<void> | undefined;
  readonly #pruner: RecordPruner;

  constructor(ctx: SchedulerContext, job: JobConfig) {
    this.#ctx = ctx;
    this.job = job;
    this.#pruner = new RecordPruner(ctx, job.name);
  }

  get name(): string {
    return this.job.name;
  }

  /**
   * Reads `jobs/<job>` and merges it into memory (see `merge`). Returns the stored state, or
   * undefined when absent or unreadable (logged). Rejects only when the backend cannot be read.
   */
  load(): Promise<JobState | undefined> {
    const loading = this.#ctx.backend.get(jobStateKey(this.name)).then((raw) => this.merge(raw));
    this.#ready = loading.then(
      () => undefined,
      () => undefined,
    );
    return loading;
  }

  /**
   * Merges the stored `jobs/<job>` text (`raw`; undefined when there is none), read by the caller
   * (the scheduler's start reads every job's at once), into memory: the newer `lastSlot`, its
   * `missedTotal` added. Call before any state write of this tracker. Returns the parsed state, or
   * undefined when absent or not JSON (logged). Never throws.
   */
  merge(raw: string | undefined): JobState | undefined {
    if (raw === undefined) return undefined;
    let state: JobState;
    try {
      state = JSON.parse(raw) as JobState;
    } catch (err) {
      this.#ctx.logger.error({ err, job: this.name }, 'job state is not JSON; treating it as absent');
      return undefined;
    }
    if (typeof state.lastSlot === 'number') this.lastSlot = Math.max(this.lastSlot ?? state.lastSlot, state.lastSlot);
    if (!this.lastRunId && typeof state.lastRunId === 'string') this.lastRunId = state.lastRunId;
    if (typeof state.missedTotal === 'number') this.missedTotal += state.missedTotal;
    if (typeof state.skippedTotal === 'number') this.skippedTotal += state.skippedTotal;
    return state;
  }

  /** Notes a slot as handled (its record exists); scheduled slots advance `lastSlot`. */
  noteHandled(slot: number, manual: boolean): void {
    this.lastRunId = runId(this.name, slot, manual);
    if (!manual) this.lastSlot = Math.max(this.lastSlot ?? slot, slot);
    this.#pruner.note(runKey(this.name, slot, manual));
  }

  /**
   * Creates the record of a slot that did not run (`ifAbsent`, guarded by the leader; transient
   * failures settled, see `settledPut`), logs it at warn, counts and reports it, and saves job
   * state. Returns false when a record already existed (handled by an earlier leader: left as is,
   * not counted again) or leadership went before it could be written (then neither recorded nor
   * counted here: `lastSlot` did not move over it, so the next leader records and counts it).
   */
  async recordNotRun(slot: number, outcome: 'skipped' | 'missed', reason: NotRunReason | string, manual = false): Promise<boolean> {
    const id = runId(this.name, slot, manual);
    const record: RunRecord = {
      job: this.name,
      slot,
      runId: id,
      scheduledAt: new Date(slot).toISOString(),
      ...(manual ? { manual: true } : {}),
      node: this.#ctx.node,
      leaderToken: this.#ctx.leader.token.toString(),
      outcome,
      reason,
      attempt: 0,
    };
    let created = false;
    try {
      created = (await settledPut(this.#ctx, this.#ctx.leader, runKey(this.name, slot, manual), JSON.stringify(record), { ifAbsent: true })) === 'written';
      if (!created) this.#ctx.logger.info({ job: this.name, run_id: id }, 'slot already recorded by an earlier leader; left as is');
    } catch (err) {
      this.#ctx.logger.warn({ err, job: this.name, run_id: id }, `slot ${outcome} (${reason}) not recorded: leadership went; left for the next leader`);
      return false;
    }
    if (!created) return false;
    this.#ctx.logger.warn({ job: this.name, run_id: id, outcome, reason }, `slot ${outcome}: ${reason}`);
    this.noteHandled(slot, manual);
    this.countNotRun(outcome, reason, 1);
    await this.saveState();
    this.prune();
    return true;
  }

  /**
   * Counts `n` slots of a backlog that get no record of their own (beyond `history`), all older
   * than `through`, as missed: `missedTotal` and `lastSlot` move together in one state write, so a
   * next leader neither loses nor counts them again.
   */
  async recordUncounted(n: number, reason: NotRunReason, through: number): Promise<void> {
    this.countNotRun('missed', reason, n);
    this.lastSlot = Math.max(this.lastSlot ?? through, through);
    await this.saveState();
  }

  /** Counts `n` slots not run (metrics hook per slot; `missedTotal` or `skippedTotal`). */
  countNotRun(outcome: 'skipped' | 'missed', reason: string, n: number): void {
    for (let i = 0; i < n; i++) this.#ctx.emit(outcome === 'missed' ? 'slotMissed' : 'slotSkipped', this.name, reason);
    if (outcome === 'missed') this.missedTotal += n;
    else this.skippedTotal += n;
  }

  /**
   * Writes `jobs/<job>` from memory, guarded by the leader. Calls made while a write is in flight
   * are coalesced into one more write, so the stored state never goes backwards.
   */
  saveState(): Promise<void> {
    this.#stateDirty = true;
    this.#stateWrite ??= this.#flushState().finally(() => {
      this.#stateWrite = undefined;
    });
    return this.#stateWrite;
  }

  /** The `jobs/<job>` text of what is in memory now, or undefined while `lastSlot` is unknown. */
  stateText(): string | undefined {
    if (this.lastSlot === undefined) return undefined;
    const state: JobState = {
      lastSlot: this.lastSlot,
      lastRunId: this.lastRunId,
      missedTotal: this.missedTotal,
      skippedTotal: this.skippedTotal,
      updatedAt: new Date(this.#ctx.clock.now()).toISOString(),
    };
    return JSON.stringify(state);
  }

  async #flushState(): Promise<void> {
    await this.#ready;
    while (this.#stateDirty) {
      this.#stateDirty = false;
      const state = this.stateText();
      if (state === undefined) return;
      try {
        await settledPut(this.#ctx, this.#ctx.leader, jobStateKey(this.name), state);
      } catch (err) {
        this.#ctx.logger.warn({ err, job: this.name }, 'could not save job state: leadership went');
        return;
      }
    }
  }

  /** Prunes `runs/<job>/` to `history` in the background (see `RecordPruner`). */
  prune(): void {
    this.#pruner.prune(this.job.history, () => new Set([...this.active].map((r) => r.slot)), this.#stateWrite);
  }

  /** True while a prune is in progress. */
  get pruning(): boolean {
    return this.#pruner.active;
  }

  /** Resolves when no prune is in progress (for tests and shutdown). */
  pruned(): Promise<void> {
    return this.#pruner.settled();
  }

  /** Writes a run record update with `guards` (not `ifAbsent`), settling transient failures. Throws `LeadershipLostError`. */
  async putRecord(guards: Lease | Lease[], record: RunRecord): Promise<void> {
    await settledPut(this.#ctx, guards, recordKey(record), JSON.stringify(record));
  }
}
