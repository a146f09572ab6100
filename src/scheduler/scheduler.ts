import type { JobConfig } from '../config/types.js';
import type { DataLoss, FencingToken } from '../election/backend.js';
import { settleOrphanRuns } from './orphan-runs.js';
import { LeadershipLostError, UsageError } from '../errors.js';
import { raceAbort } from './abortable.js';
import { nextSlot } from './cron-slots.js';
import { schedulingStopped } from './job-lock.js';
import { JobTracker } from './job-tracker.js';
import { Limiter } from './limiter.js';
import { planBacklog } from './misfire.js';
import { runSlot, type SlotRequest } from './run-slot.js';
import { createContext, type SchedulerContext, type SchedulerOptions } from './scheduler-options.js';
import type { SlotEntry } from './slot-queue.js';
import { SlotTimer } from './slot-timer.js';
import { LoopSlice } from './loop-slice.js';
import { ClockWatch } from './clock-watch.js';
import { dataLossKey } from './records.js';
import { readJobStates, START_CONCURRENCY, whileLeading } from './start-reads.js';
import { writeBaselines } from './start-baselines.js';
import { StartMemo } from './start-memo.js';

export { nextSlots } from './cron-slots.js';

/** The longest synchronous stretch of backlog planning before the loop gets a turn. */
const YIELD_EVERY_MS = 5;
export { MAX_TIMER_MS } from './slot-timer.js';
export type { SchedulerEvents, SchedulerOptions } from './scheduler-options.js';

/** A run with a started child, as `running()` reports it. */
export interface RunningRun {
  job: string;
  runId: string;
  token: FencingToken;
  /** Epoch ms the first attempt started. */
  startedAt: number;
}

/**
 * Schedules the jobs for one term of leadership (DESIGN §1, §4): one timer for the earliest due
 * slot across all jobs, misfire handling on `start()`, overlap policy and fenced run records per
 * slot. It speaks only the Backend contract and a `JobRunner`. Leadership loss is the daemon's to
 * act on (`stopScheduling()` + `killAll()`); as a backstop the scheduler stops scheduling by itself
 * when the leader lease's signal aborts, and it never starts a child without checking the leader
 * and job lock synchronously first. One instance serves one leader lease: after loss, build a new
 * one for the next term.
 */
export class Scheduler {
  readonly #ctx: SchedulerContext;
  readonly #trackers = new Map<string, JobTracker>();
  #jobs: Map<string, JobConfig>;
  readonly #timer: SlotTimer;
  readonly #inflight = new Set<Promise<void>>();
  #started = false;
  /** The timer holds the job set's slots: `start()` finished (set by it, after its awaits). */
  #armed = false;
  /** The job set the timer's entries were planned for (by `start()`, then by each re-plan). */
  #planned = new Map<string, JobConfig>();
  /** The last re-plan `setJobs` queued; each waits for the one before. */
  #replanning: Promise<void> = Promise.resolve();
  /** New jobs' state reads (`#adopt`), a few at a time: a reload may add thousands. */
  readonly #adoptions = new Limiter(START_CONCURRENCY);
  #stopped = false;
  readonly #clockWatch: ClockWatch;
  /** Set while the slots of a forward clock step the majority agreed with are handled. */
  #stepReason: 'clock_step' | undefined;
  #checkingStep = false;
  /** Resolves when `start()` has returned or thrown: the orphan settling at the head of each line waits for it. */
  readonly #startDone: Promise<void>;
  readonly #endStart: () => void;

  constructor(opts: SchedulerOptions) {
    this.#ctx = createContext(opts);
    this.#clockWatch = new ClockWatch(opts.clock);
    this.#timer = new SlotTimer({
      clock: opts.clock,
      random: opts.random ?? Math.random,
      logger: this.#ctx.logger,
      onDue: (entry, now) => this.#onDue(entry, now),
      onFire: (now) => this.#onFire(now),
    });
    this.#jobs = new Map(opts.jobs.map((j) => [j.name, j]));
    let endStart: () => void = () => undefined;
    this.#startDone = new Promise<void>((resolve) => (endStart = resolve));
    this.#endStart = endStart;
    opts.leader.signal.addEventListener('abort', () => this.stopScheduling(), { once: true });
  }

  /**
   * Reads every job's `jobs/<job>` state in one prefix read (job by job, `START_CONCURRENCY` at a
   * time, if that read fails; see `readJobStates`), handles the slots missed since each job's
   * `lastSlot` by its misfire policy (see `planBacklog`: missed records written, runs one after
   * another, oldest first, all in the job's line ahead of any newer slot; not awaited here), writes
   * a baseline `jobs/<job>` for jobs without one (so a failover right after still sees their
   * slots; up to 100 in one transaction, see `writeBaselines`), then arms the timer. After a loss
   * of the backend's data that no leader has handled yet (`Backend.dataLoss`, waited for first), a
   * job without state is not new but lost: its slots since the data was last seen intact are
   * recorded missed (`backend_data_loss`, none run), and `losses/<epoch>` is written once they all
   * are. Runs an earlier leader left `running` are settled (`settleOrphanRuns`) as the first step of each job's line, in the
   * background once `start()` has returned (or thrown), before any slot of that job; `idle()`
   * waits for them. Reads that time out are
   * retried with backoff while the lease is valid, so a slow backend delays the start rather than
   * failing it. Rejects, arming nothing, when the leader lease is or becomes invalid
   * (`LeadershipLostError`), the backend refuses a read (`BackendStorageError`) or `signal`
   * aborts; calling it twice throws `UsageError`.
   */
  async start(opts: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      await this.#start(opts);
    } finally {
      this.#endStart();
    }
  }

  async #start(opts: { signal?: AbortSignal }): Promise<void> {
    opts.signal?.throwIfAborted();
    if (this.#started) throw new UsageError('Scheduler.start() was already called');
    if (!this.#ctx.leader.isValid()) throw new LeadershipLostError('not starting to schedule: the leader lease is no longer valid');
    this.#started = true;
    const loss = await this.#unhandledDataLoss();
    opts.signal?.throwIfAborted();
    const now = this.#ctx.clock.now();
    let slice = new LoopSlice(YIELD_EVERY_MS);
    const trackers: JobTracker[] = [];
    for (const job of this.#jobs.values()) {
      trackers.push(this.#tracker(job));
      // Making 10,000 trackers takes about 0.1 s: give the loop back every few milliseconds.
      if (slice.over()) await slice.yield();
    }
    const stored = await readJobStates(this.#ctx, trackers.map((t) => t.name), new Limiter(START_CONCURRENCY));
    opts.signal?.throwIfAborted();
    // Each job's line starts with settling what an earlier leader left `running`, so no slot of
    // the job runs before it; a few jobs at a time, in the background: it lists every job's
    // records, which must not hold up scheduling the others. It begins once `start()` is done:
    // 2,000 jobs' listings took a second of the loop (on a loaded 2-core machine, the start of
    // 2,000 jobs went from under 3 s to over 4 s with them), and until the timer is armed no slot
    // could run anyway.
    const settling = new Limiter(START_CONCURRENCY);
    for (const t of trackers) {
      this.#step(t, async () => {
        await this.#startDone;
        if (this.#stopped) return;
        await settling.run(async () => {
          await this.#ctx.pace();
          await settleOrphanRuns(this.#ctx, t.name);
        });
      });
    }
    const fresh: JobTracker[] = [];
    const memo = new StartMemo();
    /** Per job whose state the data loss took, the end of its missed records in its line. */
    const lossRecorded: Promise<void>[] = [];
    slice = new LoopSlice(YIELD_EVERY_MS);
    for (const t of trackers) {
      const state = t.merge(stored.get(t.name));
      if (state) this.#backlog(t, state.lastSlot, now, 'no_leader', memo);
      else if (loss && this.#backlog(t, loss.aliveUntilMs, now, 'backend_data_loss') > 0) lossRecorded.push(t.line.enqueue(() => Promise.resolve()));
      else fresh.push(t);
      // Planning a long backlog is synchronous cron maths (up to 10,000 slots a job): give the
      // loop back every few milliseconds so keep-alives and the watchdog's deadlines go out.
      if (slice.over()) await slice.yield();
    }
    await writeBaselines(this.#ctx, fresh, now);
    if (loss) this.#track(Promise.all(lossRecorded).then(() => this.#markLossHandled(loss)));
    opts.signal?.throwIfAborted();
    if (this.#stopped) return;
    // The job set may have been replaced (SIGHUP) while this started: schedule the current one.
    // Each job's next slot is cron maths too: yield as above, and start over should a reload come
    // in between.
    const planned = new Set(trackers);
    for (let jobs = this.#jobs; ; jobs = this.#jobs) {
      for (const job of jobs.values()) {
        const t = this.#tracker(job);
        if (!planned.has(t)) {
          planned.add(t);
          this.#adopt(t, now);
        }
        const after = Math.max(now, t.lastSlot ?? now);
        this.#timer.schedule(job, after, memo.next(job, after));
        if (slice.over()) await slice.yield();
      }
      if (this.#stopped) return;
      if (jobs === this.#jobs) break;
      this.#timer.drain();
    }
    this.#planned = this.#jobs;
    this.#timer.arm();
    this.#armed = true;
    this.#ctx.logger.info({ jobs: this.#jobs.size }, 'scheduling started');
  }

  /**
   * Replaces the job set (SIGHUP). Running runs continue with the config they started with;
   * removed jobs get no new slots; new jobs start from now (no backlog). A job whose schedule,
   * time zone and jitter are unchanged keeps its pending slot. The timer is re-planned in the
   * background, a slice of jobs at a time (cron maths for 10,000 changed schedules is seconds of
   * CPU, which must not hold up keep-alives); a slot that comes due meanwhile fires once its job
   * is re-planned. `idle()` waits for the re-plan.
   */
  setJobs(jobs: JobConfig[]): void {
    const before = this.#jobs;
    this.#jobs = new Map(jobs.map((j) => [j.name, j]));
    const removed = [...before.keys()].filter((name) => !this.#jobs.has(name));
    this.#ctx.logger.info({ jobs: jobs.length, removed }, 'job set replaced');
    if (!this.#armed) return; // start() plans whatever set is current when it gets there
    const replan = this.#replanning.then(() => this.#replan());
    this.#replanning = replan;
    this.#track(replan);
  }

  /**
   * Moves the timer from the set it was planned for (`#planned`) to the current one, yielding
   * every few milliseconds and arming the timer at each yield. Runs one at a time (`setJobs`
   * chains them), so every job's pending entry is either still in the timer or in this call's
   * `pending`, never lost between two re-plans.
   */
  async #replan(): Promise<void> {
    const now = this.#ctx.clock.now();
    const jobs = this.#jobs;
    const before = this.#planned;
    const pending = new Map(this.#timer.drain().map((e) => [e.job, e]));
    const slice = new LoopSlice(YIELD_EVERY_MS);
    for (const job of jobs.values()) {
      if (this.#stopped) return;
      const t = this.#tracker(job);
      const prev = before.get(job.name);
      if (!prev) this.#adopt(t, now);
      const entry = pending.get(job.name);
      if (entry && prev && prev.schedule === job.schedule && prev.timezone === job.timezone && prev.jitterMs === job.jitterMs) {
        this.#timer.keep(entry);
      } else {
        this.#timer.schedule(job, Math.max(now, t.lastSlot ?? now));
      }
      if (slice.over()) {
        this.#timer.arm();
        await slice.yield();
      }
    }
    this.#planned = jobs;
    this.#timer.arm();
  }

  /**
   * Runs `job` now as a manual run (slot = now ms, `manual: true`), through the same path and
   * overlap policy as a scheduled slot. Resolves with the run id once its record is written, or
   * null when it was not run (the reason is logged, and recorded when it was skipped or missed).
   * Throws `UsageError` for a job not in the current set; rejects with `signal.reason` if `signal`
   * aborts first (the run itself goes on).
   */
  async trigger(job: string, opts: { signal?: AbortSignal } = {}): Promise<string | null> {
    opts.signal?.throwIfAborted();
    const config = this.#jobs.get(job);
    if (!config) throw new UsageError(`unknown job ${JSON.stringify(job)}`);
    const t = this.#tracker(config);
    if (!this.#started || this.#stopped) {
      this.#ctx.logger.warn({ job }, 'manual run refused: not scheduling');
      return null;
    }
    const recorded = new Promise<string | null>((resolve) => {
      this.#enqueue(t, { slot: this.#ctx.clock.now(), manual: true, onRecorded: resolve }, 'live');
    });
    return opts.signal ? raceAbort(recorded, opts.signal) : recorded;
  }

  /**
   * No new slots from now on: the timer is cancelled, and slots still waiting in a local `queue`
   * line give up unrecorded (the next leader's misfire scan sees them). Runs that have started
   * continue. Idempotent.
   */
  stopScheduling(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer.stop();
    for (const t of this.#trackers.values()) {
      for (const run of t.active) if (run.phase === 'waiting') run.abort.abort(schedulingStopped());
    }
    this.#ctx.logger.info('scheduling stopped');
  }

  /**
   * Resolves when no slot is being handled (runs, their record writes and record pruning).
   * Rejects with `signal.reason` when `signal` aborts first.
   */
  async idle(opts: { signal?: AbortSignal } = {}): Promise<void> {
    opts.signal?.throwIfAborted();
    const trackers = (): JobTracker[] => [...this.#trackers.values()];
    for (;;) {
      const all = Promise.allSettled([...this.#inflight, ...trackers().map((t) => t.pruned())]);
      await (opts.signal ? raceAbort(all, opts.signal) : all);
      if (this.#inflight.size === 0 && !trackers().some((t) => t.pruning)) return;
    }
  }

  /**
   * Aborts every slot in progress with `reason` (the runner kills started children; slots not yet
   * started are recorded missed) and resolves when all have ended. Does not stop scheduling.
   */
  async killAll(reason: Error): Promise<void> {
    for (const t of this.#trackers.values()) for (const run of t.active) run.abort.abort(reason);
    await this.idle();
  }

  /** Runs whose child has been started and that have not ended. */
  running(): RunningRun[] {
    const out: RunningRun[] = [];
    for (const t of this.#trackers.values()) {
      for (const r of t.active) {
        if (r.phase === 'running' && r.token !== undefined && r.startedAt !== undefined) {
          out.push({ job: t.name, runId: r.runId, token: r.token, startedAt: r.startedAt });
        }
      }
    }
    return out;
  }

  /** `job`'s tracker, made on first use; its config becomes `job` (runs in progress keep theirs). */
  #tracker(job: JobConfig): JobTracker {
    let t = this.#trackers.get(job.name);
    if (!t) {
      t = new JobTracker(this.#ctx, job);
      this.#trackers.set(job.name, t);
    }
    t.job = job;
    return t;
  }

  /** A job added by `setJobs`: keep its stored counters, but no backlog. */
  #adopt(t: JobTracker, now: number): void {
    this.#track(
      this.#adoptions.run(() => t.load()).then(
        (state) => (state ? undefined : this.#baseline(t, now)),
        (err: unknown) => this.#ctx.logger.warn({ err, job: t.name }, 'could not read state of a new job'),
      ),
    );
  }

  /**
   * The backend's record of a loss of its data (`Backend.dataLoss`, which waits until the loss is a
   * TTL old), unless a leader has handled it already (`losses/<epoch>` exists); null when none.
   * Retried while the backend is unreachable, as long as the lease is valid.
   */
  async #unhandledDataLoss(): Promise<DataLoss | null> {
    const { backend, leader, logger } = this.#ctx;
    const read = backend.dataLoss?.bind(backend);
    if (read === undefined) return null;
    const loss = await whileLeading(this.#ctx, 'reading the record of a backend data loss', () => read({ signal: leader.signal }));
    if (loss === null) return null;
    if ((await whileLeading(this.#ctx, 'reading whether the data loss was handled', () => backend.get(dataLossKey(loss.epoch)))) !== undefined) return null;
    logger.error(
      { lostEpoch: loss.lostEpoch, epoch: loss.epoch, aliveUntil: new Date(loss.aliveUntilMs).toISOString() },
      'the backend lost lockd\'s data: the slots of every job without state since the data was last seen intact are recorded missed (backend_data_loss), none is caught up',
    );
    return loss;
  }

  /** Writes `losses/<epoch>` once every job's missed records for the loss are in (see `#unhandledDataLoss`). */
  async #markLossHandled(loss: DataLoss): Promise<void> {
    if (this.#stopped) return;
    const value = JSON.stringify({ ...loss, handledBy: this.#ctx.node, handledAt: new Date(this.#ctx.clock.now()).toISOString() });
    try {
      await this.#ctx.backend.guardedPut(this.#ctx.leader, dataLossKey(loss.epoch), value, { ifAbsent: true });
    } catch (err) {
      this.#ctx.logger.warn({ err, epoch: loss.epoch }, 'could not record the data loss as handled; the next leader handles it again');
    }
  }

  async #baseline(t: JobTracker, now: number): Promise<void> {
    t.lastSlot ??= now;
    await t.saveState();
  }

  /**
   * Puts the slots in (afterMs, now] into the job's line by misfire policy (see `planBacklog`;
   * `backend_data_loss`: none runs, each is missed; a term's start passes its `memo`, see
   * `StartMemo`), and returns how many there are: the slots beyond the record cap are counted in
   * one state write, then each missed slot is recorded, then the slots to run run one after
   * another (catch-up), all before any newer slot.
   * `no_leader` (a new term) and `clock_step` (the wall clock jumped over them) follow the job's
   * `misfire`; `deadline` (several slots due at once
   * while leading: a pause, a starved loop) means the slots were late, not unscheduled: each one
   * within `deadline` runs (at most `MAX_RUN_ALL`), as `run_all` would.
   */
  #backlog(t: JobTracker, afterMs: number, now: number, staleReason: 'no_leader' | 'deadline' | 'clock_step' | 'backend_data_loss', memo?: StartMemo): number {
    const job = staleReason === 'deadline' ? { ...t.job, misfire: 'run_all' as const } : t.job;
    let plan;
    try {
      plan = memo !== undefined && staleReason === 'no_leader' ? memo.backlog(job, afterMs, now) : planBacklog(job, afterMs, now, staleReason);
    } catch (err) {
      this.#ctx.logger.error({ err, job: t.name }, 'cannot enumerate slots');
      return 0;
    }
    if (plan.truncated) {
      this.#ctx.logger.warn({ job: t.name, enumerated: plan.missedCount + plan.run.length }, 'backlog larger than the enumeration cap; older slots are neither recorded nor counted');
    }
    const uncounted = plan.missedCount - plan.missed.length;
    const oldestListed = plan.missed[0] ?? plan.run[0];
    if (plan.missedCount > 0) {
      this.#ctx.logger.warn({ job: t.name, reason: plan.reason, missed: plan.missedCount, recorded: plan.missed.length }, `${plan.missedCount} slots to record missed: ${plan.reason}`);
    }
    if (uncounted > 0 && oldestListed !== undefined) this.#step(t, () => t.recordUncounted(uncounted, plan.reason, oldestListed - 1));
    for (const slot of plan.missed) this.#step(t, async () => void (await t.recordNotRun(slot, 'missed', plan.reason)));
    for (const slot of plan.run) this.#enqueue(t, { slot, manual: false }, 'catch-up');
    return plan.missedCount + plan.run.length;
  }

  #onDue(e: SlotEntry, now: number): void {
    const t = this.#trackers.get(e.job);
    // A removed job's entry may fire before the re-plan after `setJobs` drops it.
    if (!t || !this.#jobs.has(e.job)) return;
    let following: number | undefined;
    try {
      following = nextSlot(t.job, e.slot);
    } catch {
      following = undefined;
    }
    if (following !== undefined && following <= now) this.#backlog(t, e.slot - 1, now, this.#stepReason ?? 'deadline');
    else this.#enqueue(t, { slot: e.slot, manual: false }, 'live');
    // No slot in (e.slot, now]: the first one after now is `following`, no need to search again.
    this.#timer.schedule(t.job, now, following !== undefined && following > now ? following : undefined);
  }

  /**
   * Looks for a wall-clock step at every timer fire (the daemon also calls `recheckClock` after
   * every acknowledged renewal). Backward: every job's next slot is planned again from its last
   * handled slot (names already handled never run again, so a job is silent only for those).
   * Forward: nothing is handled until the daemon says whether this replica's clock agrees with the
   * majority of candidates; if it does, the slots jumped over are handled by misfire policy (reason
   * `clock_step`); if not, the daemon resigns and nothing of the step was recorded, so a replica
   * with a correct clock takes over from an untouched `lastSlot`.
   */
  #onFire(now: number): boolean {
    // While a forward step is being checked, no fire may handle slots from the stepped clock.
    if (this.#checkingStep) return false;
    const step = this.#stepReason === undefined ? this.#clockWatch.check() : 0;
    if (step === 0) return true;
    this.#ctx.logger.warn({ step_ms: Math.round(step) }, step > 0 ? 'wall clock stepped forward while leading' : 'wall clock stepped back while leading');
    if (step < 0) {
      for (const entry of this.#timer.drain()) {
        const t = this.#trackers.get(entry.job);
        if (t) this.#timer.schedule(t.job, Math.max(now, t.lastSlot ?? now));
      }
      return true;
    }
    void this.#afterForwardStep();
    return false;
  }

  async #afterForwardStep(): Promise<void> {
    this.#checkingStep = true;
    let trusted: boolean;
    try {
      trusted = await this.#ctx.clockTrusted();
    } catch (err) {
      this.#ctx.logger.warn({ err }, 'could not compare clocks with the other candidates; taking the step as real');
      trusted = true;
    }
    if (this.#stopped) return;
    // Untrusted: the hold stays until the daemon's resignation stops this scheduler.
    if (trusted) this.#checkingStep = false;
    if (!trusted) {
      this.#ctx.logger.error('this clock disagrees with the majority of candidates: not scheduling from it');
      this.#ctx.untrustedClock();
      return;
    }
    this.#stepReason = 'clock_step';
    try {
      this.#timer.fireNow();
    } finally {
      this.#stepReason = undefined;
    }
  }

  /** Checks for a wall-clock step now rather than at the next timer fire (see `#onFire`). */
  recheckClock(): void {
    if (this.#armed && !this.#stopped) this.#timer.fireNow();
  }

  /**
   * Handles `req` at its turn in the job's line. `live`: the line moves on once the slot is
   * decided (recorded not run, or its record written and its child starting), so the next slot
   * meets the overlap policy. `catch-up` (a backlog or late slot): the line waits for the run to
   * end, so a short catch-up run does not turn the next slot into `skipped`. Slots still waiting
   * when scheduling stops are left for the next leader (`lastSlot` has not moved over them).
   */
  #enqueue(t: JobTracker, req: SlotRequest, mode: 'live' | 'catch-up'): void {
    this.#step(t, async () => {
      // Hundreds of slots due at once: each one's first backend calls are set up in turn, with
      // the event loop (keep-alives) in between.
      await this.#ctx.pace();
      if (this.#stopped) {
        req.onRecorded?.(null);
        return;
      }
      let decided: () => void = () => undefined;
      const decision = new Promise<void>((resolve) => (decided = resolve));
      const run = runSlot(this.#ctx, t, {
        ...req,
        onRecorded: (id) => {
          req.onRecorded?.(id);
          decided();
        },
      });
      this.#track(run);
      await (mode === 'catch-up' ? run : decision);
    });
  }

  /** One step in `t`'s line (see `SlotLine`), tracked for `idle()`. */
  #step(t: JobTracker, step: () => Promise<void>): void {
    this.#track(t.line.enqueue(step));
  }

  #track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => this.#ctx.logger.error({ err }, 'scheduler task failed'));
    this.#inflight.add(tracked);
    void tracked.finally(() => this.#inflight.delete(tracked));
  }
}
