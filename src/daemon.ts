import os from 'node:os';
import type { Logger } from 'pino';
import type { LockdConfig } from './config/types.js';
import { loadConfigOffLoop } from './config/load-off-loop.js';
import { storageWarning } from './config/storage-budget.js';
import type { Backend, CandidateInfo, Lease, SessionWatch } from './election/backend.js';
import { createBackend } from './election/create-backend.js';
import { ConfigError, LeadershipLostError, LockdError } from './errors.js';
import { LockdMetrics } from './observe/metrics.js';
import { systemClock } from './clock.js';
import { Scheduler } from './scheduler/scheduler.js';
import { runAttempt } from './runner/run-attempt.js';
import { startHttpServer, type HttpServer } from './http/server.js';
import { RequestInbox } from './request-inbox.js';
import { abortableDelay, linkSignals, waitForAbort } from './abort.js';
import { fencingWindow } from './election/fencing-window.js';
import { RunFence } from './fencing/run-fence.js';
import { Watchdog } from './fencing/watchdog.js';
import { ClockPeers, median } from './clock-peers.js';
import { ClockWatch } from './scheduler/clock-watch.js';

/** How often the skew against the other candidates is measured. */
const SKEW_CHECK_MS = 5000;

/** How long a replica that resigned waits before campaigning again. */
const RESIGN_PAUSE_MS = 1000;

/** What ended a term of leadership. */
type TermEnd = 'shutdown' | 'resign' | 'lost';

/**
 * One `lockd run` process: campaigns for leadership, runs the scheduler while it leads, and
 * handles the lifecycle of DESIGN §6:
 * - `shutdown()` (SIGTERM/SIGINT): stop scheduling, resign at once (delete the leader key so the
 *   next candidate wins within milliseconds), let running jobs drain under their job locks up to
 *   `shutdown_grace`, kill what remains, release everything, close the backend.
 * - `reload()` (SIGHUP): re-read the config; an invalid file is logged and the old one kept.
 * - leadership lost: stop scheduling, kill running jobs, campaign again (the backend opens a new
 *   session when the old one is gone).
 * - `resign()` (a `lockd resign` request): hand leadership over at once, keep running jobs, campaign again.
 */
export class Daemon {
  private config: LockdConfig;
  /** The root logger, handed to components that take their own child. */
  private readonly rootLogger: Logger;
  private readonly logger: Logger;
  private readonly backend: Backend;
  readonly metrics: LockdMetrics;
  private readonly me: CandidateInfo;
  private readonly stopping = new AbortController();
  private resignRequest = new AbortController();
  private readonly impatient = new AbortController();
  private scheduler: Scheduler | undefined;
  /** Schedulers of terms this process resigned whose runs still drain under their job locks. */
  private readonly drainingTerms = new Set<Scheduler>();
  private http: HttpServer | undefined;
  private leaseOfTerm: Lease | undefined;
  private ended: Promise<void> | undefined;
  private readonly clockWatch = new ClockWatch(systemClock);
  private readonly clocks: ClockPeers;
  private skewTimer: NodeJS.Timeout | undefined;

  private constructor(
    config: LockdConfig,
    backend: Backend,
    logger: Logger,
    metrics: LockdMetrics,
    private readonly watchdog: Watchdog,
    private readonly fence: RunFence,
  ) {
    this.config = config;
    this.backend = backend;
    this.rootLogger = logger;
    this.logger = logger.child({ component: 'daemon' });
    this.metrics = metrics;
    this.me = { node: config.node, host: os.hostname(), pid: process.pid, since: new Date().toISOString() };
    this.clocks = new ClockPeers(backend, config.node, systemClock, this.logger);
  }

  /**
   * After every acknowledged renewal: a wall-clock step is logged, counted
   * (`lockd_clock_step_seconds_total`) and handed to the scheduler's step policy at once.
   */
  private checkClock(): void {
    const step = this.clockWatch.check();
    if (step === 0) return;
    this.metrics.clockSteps.inc({ direction: step > 0 ? 'forward' : 'backward' }, Math.abs(step) / 1000);
    this.logger.warn({ step_ms: Math.round(step) }, step > 0 ? 'wall clock stepped forward' : 'wall clock stepped back');
    this.scheduler?.recheckClock();
  }

  /**
   * Every few seconds: the skew against the other candidates (`lockd_clock_skew_seconds`); a
   * leader whose clock most candidates disagree with (`leader.max_clock_skew`) resigns.
   */
  private async checkSkew(): Promise<void> {
    let offsets: number[];
    try {
      offsets = [...(await this.clocks.offsets()).values()];
    } catch {
      return;
    }
    this.metrics.clockSkew.set(median(offsets) / 1000);
    if (this.scheduler !== undefined && !(await this.clockAgrees())) {
      this.logger.error('resigning: this wall clock disagrees with most candidates');
      this.resign();
    }
  }

  /** Whether most candidates' clocks agree with ours; true when they cannot be read (nothing to compare with). */
  private clockAgrees(): Promise<boolean> {
    return this.clocks.agreesWithMajority(this.config.leader.maxClockSkewMs).catch((err: unknown) => {
      this.logger.warn({ err: describe(err) }, 'could not compare clocks with the other candidates; trusting this one');
      return true;
    });
  }

  /**
   * Opens the backend and the HTTP endpoint and starts campaigning. Throws `LockdError` (e.g.
   * `BackendStorageError`, `BackendUnavailableError`) when the backend cannot be opened.
   */
  static async start(config: LockdConfig, logger: Logger): Promise<Daemon> {
    const watchdog = await Watchdog.start(logger);
    const fence = new RunFence(watchdog, fencingWindow(config.backend.type, config.leader.ttlMs).lossGraceMs, logger.child({ component: 'fence' }));
    // Every acknowledged renewal is also when the wall clock is compared with the monotonic one.
    let onRenewal: () => void = () => undefined;
    const sessionWatch: SessionWatch = {
      renewed: (session, killBy) => {
        fence.renewed(session, killBy);
        onRenewal();
      },
      lost: (session, killBy) => fence.lost(session, killBy),
    };
    let backend: Backend;
    try {
      backend = await createBackend(config.backend, { cluster: config.cluster, node: config.node, ttlMs: config.leader.ttlMs, logger, sessionWatch });
    } catch (err) {
      await watchdog.close();
      throw err;
    }
    const metrics = new LockdMetrics();
    const daemon = new Daemon(config, backend, logger, metrics, watchdog, fence);
    onRenewal = () => daemon.checkClock();
    daemon.clocks.start();
    daemon.skewTimer = setInterval(() => void daemon.checkSkew(), SKEW_CHECK_MS);
    daemon.skewTimer.unref();
    metrics.bindHealth(() => backend.health());
    metrics.leaseTtl.set(backend.ttlMs / 1000);
    metrics.bindStorage(() => daemon.config.storage);
    if (config.http !== undefined) {
      daemon.http = await startHttpServer({
        listen: config.http.listen,
        metrics,
        backend,
        config: () => daemon.config,
        live: () => !daemon.stopping.signal.aborted,
        logger,
      });
    }
    daemon.ended = daemon.leadershipLoop();
    daemon.logger.info({ cluster: config.cluster, backend: config.backend.type, jobs: config.jobs.length }, 'lockd started');
    daemon.warnOverStorageBudget(config);
    return daemon;
  }

  /** Resolves when the daemon has shut down completely. */
  async done(): Promise<void> {
    await this.ended;
  }

  /** Graceful stop; see the class comment. Idempotent; resolves when everything is released. */
  async shutdown(): Promise<void> {
    if (!this.stopping.signal.aborted) {
      this.logger.info('shutting down: resigning and draining running jobs');
      this.stopping.abort(new LockdError('SHUTDOWN', 'lockd is shutting down'));
    }
    await this.ended;
  }

  /** Second shutdown signal: kill running jobs now instead of waiting for the grace period. */
  killNow(): void {
    this.stopping.abort();
    this.impatient.abort();
  }

  /** Re-reads the config file; keeps the running config when the new one is invalid. */
  async reload(): Promise<boolean> {
    let next: LockdConfig;
    try {
      next = await loadConfigOffLoop(this.config.file);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.message : String(err);
      this.logger.error({ err: problems }, 'reload refused: config invalid, keeping the running config');
      return false;
    }
    const needsRestart = ['cluster', 'node', 'backend', 'leader', 'http'].filter(
      (key) => JSON.stringify(next[key as keyof LockdConfig]) !== JSON.stringify(this.config[key as keyof LockdConfig]),
    );
    if (needsRestart.length > 0) this.logger.warn({ keys: needsRestart }, 'these settings change only on restart');
    this.config = { ...this.config, jobs: next.jobs, shutdownGraceMs: next.shutdownGraceMs, storage: next.storage };
    this.scheduler?.setJobs(next.jobs);
    this.logger.info({ jobs: next.jobs.map((j) => j.name) }, 'config reloaded');
    this.warnOverStorageBudget(next);
    return true;
  }

  /** Logs `storageWarning` (as `lockd validate` prints it) when the jobs may exceed the budget. */
  private warnOverStorageBudget(config: LockdConfig): void {
    const warning = storageWarning(config);
    if (warning !== undefined) this.logger.warn({ ...config.storage }, `storage budget: ${warning}`);
  }

  /** Steps down at once (running jobs keep their locks) and campaigns again behind the others. */
  resign(): void {
    this.resignRequest.abort();
  }

  private async leadershipLoop(): Promise<void> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      let lease: Lease;
      try {
        lease = await this.backend.campaign(this.me, { signal: stop });
      } catch (err) {
        if (stop.aborted) break;
        this.logger.warn({ err: describe(err) }, 'campaign failed; retrying in 1s');
        await abortableDelay(1000, stop);
        continue;
      }
      const end = await this.lead(lease);
      // Campaigning straight after a resign would win again at once when no one else waits.
      if (end === 'resign') await abortableDelay(RESIGN_PAUSE_MS, stop);
    }
    await this.drain([...this.drainingTerms]);
    clearInterval(this.skewTimer);
    this.clocks.stop();
    await this.http?.close();
    await this.backend.close();
    await this.watchdog.close();
    this.logger.info('lockd stopped');
  }

  /** One term of leadership, from winning to losing, resigning or shutting down. */
  private async lead(lease: Lease): Promise<TermEnd> {
    this.leaseOfTerm = lease;
    this.resignRequest = new AbortController();
    this.metrics.isLeader.set(1);
    this.metrics.leaderChanges.inc();
    this.logger.info({ node: this.config.node, token: lease.token.toString() }, 'became leader');

    // Children die with leadership *loss*, not with a deliberate resign: on shutdown and on
    // `lockd resign` they drain under their job locks.
    const leadership = new AbortController();
    let resigning = false;
    const onLeaseAbort = (): void => {
      if (!resigning) leadership.abort(lease.signal.reason);
    };
    lease.signal.addEventListener('abort', onLeaseAbort, { once: true });

    const scheduler = new Scheduler({
      backend: this.backend,
      leader: lease,
      leadershipSignal: leadership.signal,
      jobs: this.config.jobs,
      cluster: this.config.cluster,
      node: this.config.node,
      clock: systemClock,
      logger: this.rootLogger,
      runner: runAttempt,
      events: this.metrics.schedulerEvents(),
      busyElsewhere: (job) => [...this.drainingTerms].some((term) => term.running().some((run) => run.job === job)),
      groups: (sessionId) => this.fence.groups(sessionId),
      clockTrusted: () => this.clockAgrees(),
      untrustedClock: () => this.resign(),
    });
    this.scheduler = scheduler;
    const inbox = new RequestInbox({
      backend: this.backend,
      leader: lease,
      logger: this.logger,
      node: this.config.node,
      handlers: { trigger: (job) => scheduler.trigger(job), resign: () => this.resign() },
    });
    try {
      // A replica whose clock most candidates disagree with must not name slots from it.
      if (!(await this.clockAgrees())) throw new LockdError('CLOCK_SKEW', 'this wall clock disagrees with most candidates');
      await scheduler.start();
      inbox.start();
    } catch (err) {
      // A leader that cannot schedule must not sit on the lease: hand over, retry after a pause.
      this.logger.error({ err: describe(err) }, 'scheduler failed to start: handing leadership over');
      this.resign();
    }

    const end = await this.waitForTermEnd(lease);
    inbox.stop();
    scheduler.stopScheduling();
    if (end === 'lost') {
      this.logger.warn({ token: lease.token.toString(), reason: describe(lease.signal.reason) }, 'leadership lost: killing running jobs');
      // The lease's reason carries its kill deadline: SIGKILL lands before it, whatever kill_grace says.
      await scheduler.killAll(lease.signal.reason instanceof Error ? lease.signal.reason : new LeadershipLostError('leadership lost'));
    } else {
      resigning = true;
      // Logged before the key goes: from here on this process acts as leader no more, and the next
      // leader may log its win before the release returns.
      this.logger.info({ token: lease.token.toString(), running: scheduler.running().length }, end === 'resign' ? 'resigned leadership' : 'resigned leadership for shutdown');
      await lease.release();
      if (scheduler.running().length > 0) this.keepDraining(scheduler);
    }
    lease.signal.removeEventListener('abort', onLeaseAbort);
    this.scheduler = undefined;
    this.leaseOfTerm = undefined;
    this.metrics.isLeader.set(0);
    this.metrics.leaderChanges.inc();
    return end;
  }

  private async waitForTermEnd(lease: Lease): Promise<TermEnd> {
    const signals = { shutdown: this.stopping.signal, resign: this.resignRequest.signal, lost: lease.signal };
    const ended = linkSignals(Object.values(signals));
    await waitForAbort(ended.signal);
    ended.dispose();
    if (signals.shutdown.aborted) return 'shutdown';
    if (signals.resign.aborted && !signals.lost.aborted) return 'resign';
    return 'lost';
  }

  /** Tracks a resigned term until its last run ends, so shutdown drains it and new terms skip its jobs. */
  private keepDraining(scheduler: Scheduler): void {
    this.drainingTerms.add(scheduler);
    void scheduler.idle().then(() => this.drainingTerms.delete(scheduler));
  }

  /** Waits up to `shutdown_grace` (or a second signal) for the runs of `terms`, then kills the rest. */
  private async drain(terms: Scheduler[]): Promise<void> {
    if (terms.length === 0) return;
    const grace = new AbortController();
    const timer = setTimeout(() => grace.abort(), this.config.shutdownGraceMs);
    const cut = linkSignals([grace.signal, this.impatient.signal]);
    await Promise.race([Promise.all(terms.map((term) => term.idle())), waitForAbort(cut.signal)]);
    cut.dispose();
    clearTimeout(timer);
    if (grace.signal.aborted || this.impatient.signal.aborted) {
      this.logger.warn({ graceMs: this.config.shutdownGraceMs }, 'shutdown grace passed: killing running jobs');
      await Promise.all(terms.map((term) => term.killAll(new LockdError('SHUTDOWN', 'shutdown grace passed'))));
    }
  }


  /** The lease of the current term, if leading (for tests and status). */
  currentLease(): Lease | undefined {
    return this.leaseOfTerm;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
