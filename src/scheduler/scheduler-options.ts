import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { Limiter } from './limiter.js';
import { Pacer } from './pacer.js';
import type { JobConfig } from '../config/types.js';
import type { Backend, Lease } from '../election/backend.js';
import type { GroupRegistry, JobRunner } from '../runner/types.js';
import type { RunOutcome } from './records.js';

/** See `SchedulerContext.slotCalls`: as many as the start-up's reads and writes in flight. */
export const SLOT_CALLS_IN_FLIGHT = 32;

/**
 * Metrics hooks, all optional. Called synchronously at the matching points; a hook that throws is
 * logged and otherwise ignored, so metrics can never stop a run.
 */
export interface SchedulerEvents {
  /** The first attempt's child exists; `startDelayMs` = child start - slot. Once per run. */
  runStarted?(job: string, runId: string, startDelayMs: number): void;
  /** A run that started ended with its final outcome; `durationMs` spans all attempts. */
  runFinished?(job: string, outcome: RunOutcome, durationMs: number): void;
  /** A slot was counted missed (once per slot, also for backlog slots beyond the record cap). */
  slotMissed?(job: string, reason: string): void;
  /** A slot was recorded skipped. */
  slotSkipped?(job: string, reason: string): void;
  /** The job lock was acquired after `waitMs`; `contended` = it was not free at once. */
  lockAcquired?(job: string, waitMs: number, contended: boolean): void;
  /** The job lock was released after being held `heldMs`. */
  lockReleased?(job: string, heldMs: number): void;
}

/** What the daemon hands the scheduler for one term of leadership. */
export interface SchedulerOptions {
  backend: Backend;
  /** This term's leadership; every record write is guarded by it. */
  leader: Lease;
  /**
   * Aborts on leadership *loss* only, not on a deliberate resignation; running children are bound
   * to it (with their job lock), so they can drain under their locks after a resign. Default:
   * `leader.signal`.
   */
  leadershipSignal?: AbortSignal;
  jobs: JobConfig[];
  cluster: string;
  node: string;
  clock: Clock;
  logger: Logger;
  runner: JobRunner;
  events?: SchedulerEvents;
  /** Source of jitter, in [0, 1); default `Math.random`. */
  random?: () => number;
  /**
   * True while a run of `job` started in an earlier term of this process is still draining under
   * its job lock (after `lockd resign`): such a slot is skipped (`overlap`) — `skip` and `queue`
   * alike — since the lock is held by this very backend. Default: never.
   */
  busyElsewhere?: (job: string) => boolean;
  /** Where runs report their process groups, per backend session (the daemon's `RunFence`). Default: nowhere. */
  groups?: (sessionId: string) => GroupRegistry;
  /**
   * After a forward wall-clock step: whether this replica's clock agrees with the majority of the
   * live candidates (then the step is taken as real). Default: always.
   */
  clockTrusted?: () => Promise<boolean>;
  /** Called when `clockTrusted` said no: the daemon resigns; the scheduler has recorded nothing of the step. */
  untrustedClock?: () => void;
}

/** What the scheduler's parts share (internal). */
export interface SchedulerContext {
  backend: Backend;
  leader: Lease;
  /** See `SchedulerOptions.leadershipSignal`; always set here. */
  leadershipSignal: AbortSignal;
  cluster: string;
  node: string;
  clock: Clock;
  /** The scheduler's child logger (`component: 'scheduler'`). */
  logger: Logger;
  runner: JobRunner;
  /** See `SchedulerOptions.busyElsewhere`; always set here. */
  busyElsewhere: (job: string) => boolean;
  /** See `SchedulerOptions.groups`. */
  groups: ((sessionId: string) => GroupRegistry) | undefined;
  clockTrusted: () => Promise<boolean>;
  untrustedClock: () => void;
  /**
   * Await before slot work that can come by the hundred (a slot's first step, a child's spawn):
   * resolves at this caller's turn, after the event loop had a turn if the work before it took
   * long (see `Pacer`). Await the returned promise itself, not a wrapper: the pacer lets the next
   * caller through once this one's continuation has run.
   */
  pace: () => Promise<void>;
  /**
   * Bounds a burst's backend writes in flight (taking a `skip` lock, writing the `running`
   * record, the outcome and job state) to `SLOT_CALLS_IN_FLIGHT`. etcd 3.4 answers a keep-alive
   * only once every write before it is applied: 500 lock and record writes at once, and their
   * retries, held the leader's keep-alives past the 1 s its session vouches for at TTL 2 s, and
   * the leader lost its lease to its own burst. The others wait in order.
   */
  slotCalls: Limiter;
  /** Calls `events[name]` if set, logging (never throwing) a hook's error. */
  emit: <K extends keyof SchedulerEvents>(name: K, ...args: Parameters<NonNullable<SchedulerEvents[K]>>) => void;
}

/** Builds the shared context from the options. */
export function createContext(opts: SchedulerOptions): SchedulerContext {
  const logger = opts.logger.child({ component: 'scheduler' });
  const events = opts.events ?? {};
  const leadershipSignal = opts.leadershipSignal ?? opts.leader.signal;
  // Every run in progress listens to these two for the whole run: thousands at once in a burst,
  // by design, so no "possible memory leak" warning past Node's default of 10.
  setMaxListeners(0, leadershipSignal, opts.leader.signal);
  const pacer = new Pacer(() => opts.clock.monotonic());
  return {
    backend: opts.backend,
    leader: opts.leader,
    leadershipSignal,
    cluster: opts.cluster,
    node: opts.node,
    clock: opts.clock,
    logger,
    runner: opts.runner,
    busyElsewhere: opts.busyElsewhere ?? (() => false),
    groups: opts.groups,
    clockTrusted: opts.clockTrusted ?? (() => Promise.resolve(true)),
    untrustedClock: opts.untrustedClock ?? (() => undefined),
    pace: () => pacer.turn(),
    slotCalls: new Limiter(SLOT_CALLS_IN_FLIGHT),
    emit(name, ...args) {
      const hook = events[name] as ((...a: unknown[]) => void) | undefined;
      if (!hook) return;
      try {
        hook.apply(events, args);
      } catch (err) {
        logger.error({ err, hook: name }, 'scheduler event hook threw');
      }
    },
  };
}
