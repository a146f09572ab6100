import { setImmediate as nextTurn } from 'node:timers/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BackendHealth } from '../election/backend.js';
import type { SchedulerEvents } from '../scheduler/scheduler.js';
import { JobMetrics } from './job-metrics.js';
import { droppedLogLines } from './logger.js';

/**
 * How often prom-client's event-loop delay histogram samples (`lockd_nodejs_eventloop_lag_p99_seconds`
 * and its siblings). Its default, 10 ms, wakes an idle daemon 100 times a second: most of its
 * idle CPU. At 100 ms a stall is still measured in full (a sample's delay is the stall), only
 * sampled less often; `lockd_nodejs_eventloop_lag_seconds` is measured at each scrape anyway.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * lockd's Prometheus metrics (DESIGN §9), on a registry of their own so tests and several daemons
 * in one process never share counters. Cluster-wide metrics and the histograms (one series set per
 * daemon, no `job` or `lock` label) live in prom-client; the per-job counters and gauges live in
 * `jobs` (see `JobMetrics`), so 10,000 jobs scrape in about 2 MB without blocking the event loop.
 * `schedulerEvents` feeds both from the scheduler's hooks; `scrape` renders them.
 */
export class LockdMetrics {
  readonly registry = new Registry();
  /** The Content-Type of `scrape`'s text. */
  readonly contentType = this.registry.contentType;
  readonly jobs: JobMetrics;
  readonly isLeader = new Gauge({ name: 'lockd_is_leader', help: '1 while this replica leads', registers: [this.registry] });
  readonly leaderChanges = new Counter({
    name: 'lockd_leader_changes_total',
    help: 'Times this replica gained or lost leadership',
    registers: [this.registry],
  });
  readonly lockAcquireSeconds = new Histogram({
    name: 'lockd_lock_acquire_seconds',
    help: 'Time to acquire a job lock (all jobs)',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly lockHoldSeconds = new Histogram({
    name: 'lockd_lock_hold_seconds',
    help: 'Time a job lock was held (all jobs)',
    buckets: [0.01, 0.1, 1, 10, 60, 600, 3600],
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'lockd_job_duration_seconds',
    help: 'Run duration, all attempts (all jobs)',
    buckets: [0.01, 0.1, 1, 10, 60, 300, 1800, 3600],
    registers: [this.registry],
  });
  readonly jobStartDelay = new Histogram({
    name: 'lockd_job_start_delay_seconds',
    help: 'Delay from the scheduled slot to the child process running (all jobs)',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  private health: () => BackendHealth = () => ({ up: false, reason: 'no backend' });
  readonly backendUp: Gauge = new Gauge({
    name: 'lockd_backend_up',
    help: '1 while the backend session is valid',
    registers: [this.registry],
    collect: (): void => this.backendUp.set(this.health().up ? 1 : 0),
  });
  readonly leaseRemaining: Gauge = new Gauge({
    name: 'lockd_lease_remaining_seconds',
    help: 'Seconds until the session self-fences unless renewed',
    registers: [this.registry],
    collect: (): void => this.leaseRemaining.set(Math.max(0, (this.health().sessionRemainingMs ?? 0) / 1000)),
  });
  private dataLossesCounted = 0;
  readonly backendDataLoss: Counter = new Counter({
    name: 'lockd_backend_data_loss_total',
    help: 'Times this replica found that the backend had lost lockd\'s data (Redis restarted without persistence, or lost its AOF/RDB)',
    registers: [this.registry],
    collect: (): void => {
      const detected = this.health().dataLossesDetected ?? 0;
      if (detected > this.dataLossesCounted) this.backendDataLoss.inc(detected - this.dataLossesCounted);
      this.dataLossesCounted = detected;
    },
  });
  /** Set once from the backend's `ttlMs`, so alerts can compare `lockd_lease_remaining_seconds` with it. */
  readonly leaseTtl = new Gauge({
    name: 'lockd_lease_ttl_seconds',
    help: 'The lease TTL (etcd lease TTL, ZooKeeper session timeout, embedded row expiry)',
    registers: [this.registry],
  });
  readonly clockSteps = new Counter({
    name: 'lockd_clock_step_seconds_total',
    help: 'Wall-clock steps this replica noticed (wall time moving unlike monotonic time), in seconds',
    labelNames: ['direction'],
    registers: [this.registry],
  });
  readonly clockSkew = new Gauge({
    name: 'lockd_clock_skew_seconds',
    help: 'Median of the live candidates\' wall clocks minus this replica\'s (positive: the others are ahead)',
    registers: [this.registry],
  });
  private storage: () => { budgetBytes: number; estimateBytes: number } = () => ({ budgetBytes: 0, estimateBytes: 0 });
  readonly storageEstimate: Gauge = new Gauge({
    name: 'lockd_storage_estimate_bytes',
    help: 'The most the configured jobs keep in the backend (states and history x output_tail records), estimated from the config',
    registers: [this.registry],
    collect: (): void => this.storageEstimate.set(this.storage().estimateBytes),
  });
  readonly storageBudget: Gauge = new Gauge({
    name: 'lockd_storage_budget_bytes',
    help: 'storage_budget: what lockd should keep in the backend at most',
    registers: [this.registry],
    collect: (): void => this.storageBudget.set(this.storage().budgetBytes),
  });
  /** Process-wide: what the stdout logger (`createLogger` without a destination) has dropped. */
  private logLinesCounted = 0;
  readonly logLinesDropped: Counter = new Counter({
    name: 'lockd_log_lines_dropped_total',
    help: 'Log lines dropped because stdout was not read fast enough (or its reader was gone)',
    registers: [this.registry],
    collect: (): void => {
      const dropped = droppedLogLines();
      if (dropped > this.logLinesCounted) this.logLinesDropped.inc(dropped - this.logLinesCounted);
      this.logLinesCounted = dropped;
    },
  });

  /** `now`: epoch ms for the per-job timestamps (default `Date.now`). */
  constructor(opts: { processMetrics?: boolean; now?: () => number } = {}) {
    this.jobs = new JobMetrics(opts.now ?? Date.now);
    if (opts.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: 'lockd_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    }
  }

  /** Where `lockd_backend_up` and `lockd_lease_remaining_seconds` read from at scrape time. */
  bindHealth(health: () => BackendHealth): void {
    this.health = health;
  }

  /**
   * The whole exposition (Prometheus text 0.0.4) as chunks: prom-client's few dozen series first,
   * then the per-job families, with a turn of the event loop before each per-job chunk, so no
   * stretch of a scrape holds the loop for more than about a millisecond per thousand jobs.
   * Rejects only if a prom-client `collect` hook throws.
   */
  async *scrape(): AsyncGenerator<string, void, undefined> {
    yield await this.registry.metrics();
    for (const chunk of this.jobs.render()) {
      await nextTurn();
      yield chunk;
    }
  }

  /** Where the storage gauges read from at scrape time (the running config, which a reload replaces). */
  bindStorage(storage: () => { budgetBytes: number; estimateBytes: number }): void {
    this.storage = storage;
  }

  /** Scheduler hooks that keep the job and lock metrics. */
  schedulerEvents(): SchedulerEvents {
    return {
      runStarted: (_job, _runId, startDelayMs) => this.jobStartDelay.observe(startDelayMs / 1000),
      runFinished: (job, outcome, durationMs) => {
        this.jobDuration.observe(durationMs / 1000);
        this.jobs.runFinished(job, outcome);
      },
      slotMissed: (job, reason) => this.jobs.slotMissed(job, reason),
      slotSkipped: (job) => this.jobs.slotSkipped(job),
      lockAcquired: (lock, waitMs, contended) => {
        this.lockAcquireSeconds.observe(waitMs / 1000);
        if (contended) this.jobs.lockContended(lock);
      },
      lockReleased: (_lock, heldMs) => this.lockHoldSeconds.observe(heldMs / 1000),
    };
  }
}
