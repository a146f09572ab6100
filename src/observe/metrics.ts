import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BackendHealth } from '../election/backend.js';
import type { SchedulerEvents } from '../scheduler/scheduler.js';
import { droppedLogLines } from './logger.js';

/**
 * lockd's Prometheus metrics (DESIGN §9), on a registry of their own so tests and several daemons
 * in one process never share counters. `schedulerEvents` feeds them from the scheduler's hooks.
 */
export class LockdMetrics {
  readonly registry = new Registry();
  readonly isLeader = new Gauge({ name: 'lockd_is_leader', help: '1 while this replica leads', registers: [this.registry] });
  readonly leaderChanges = new Counter({
    name: 'lockd_leader_changes_total',
    help: 'Times this replica gained or lost leadership',
    registers: [this.registry],
  });
  readonly lockAcquireSeconds = new Histogram({
    name: 'lockd_lock_acquire_seconds',
    help: 'Time to acquire a job lock',
    labelNames: ['lock'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly lockHoldSeconds = new Histogram({
    name: 'lockd_lock_hold_seconds',
    help: 'Time a job lock was held',
    labelNames: ['lock'],
    buckets: [0.01, 0.1, 1, 10, 60, 600, 3600],
    registers: [this.registry],
  });
  readonly lockContended = new Counter({
    name: 'lockd_lock_contended_total',
    help: 'Job lock acquisitions that found the lock held',
    labelNames: ['lock'],
    registers: [this.registry],
  });
  readonly jobRuns = new Counter({
    name: 'lockd_job_runs_total',
    help: 'Finished runs by outcome (success, failed, timeout, killed, skipped, missed)',
    labelNames: ['job', 'outcome'],
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'lockd_job_duration_seconds',
    help: 'Run duration',
    labelNames: ['job'],
    buckets: [0.01, 0.1, 1, 10, 60, 300, 1800, 3600],
    registers: [this.registry],
  });
  readonly jobStartDelay = new Histogram({
    name: 'lockd_job_start_delay_seconds',
    help: 'Delay from the scheduled slot to the child process running',
    labelNames: ['job'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly jobMissed = new Counter({
    name: 'lockd_job_missed_total',
    help: 'Slots recorded as missed, by reason',
    labelNames: ['job', 'reason'],
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

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'lockd_' });
  }

  /** Where `lockd_backend_up` and `lockd_lease_remaining_seconds` read from at scrape time. */
  bindHealth(health: () => BackendHealth): void {
    this.health = health;
  }

  /** Scheduler hooks that keep the job and lock metrics. */
  schedulerEvents(): SchedulerEvents {
    return {
      runStarted: (job, _runId, startDelayMs) => this.jobStartDelay.observe({ job }, startDelayMs / 1000),
      runFinished: (job, outcome, durationMs) => {
        this.jobRuns.inc({ job, outcome });
        this.jobDuration.observe({ job }, durationMs / 1000);
      },
      slotMissed: (job, reason) => {
        this.jobRuns.inc({ job, outcome: 'missed' });
        this.jobMissed.inc({ job, reason });
      },
      slotSkipped: (job) => this.jobRuns.inc({ job, outcome: 'skipped' }),
      lockAcquired: (lock, waitMs, contended) => {
        this.lockAcquireSeconds.observe({ lock }, waitMs / 1000);
        if (contended) this.lockContended.inc({ lock });
      },
      lockReleased: (lock, heldMs) => this.lockHoldSeconds.observe({ lock }, heldMs / 1000),
    };
  }
}
