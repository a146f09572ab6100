import { pino } from 'pino';
import type { JobConfig } from '../../src/config/types.js';
import type { Lease } from '../../src/election/backend.js';
import { jobStateKey, runKey, runsPrefix, type JobState, type RunRecord } from '../../src/scheduler/records.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import type { SchedulerEvents } from '../../src/scheduler/scheduler-options.js';
import { FakeBackend, FakeStore } from './fake-backend.js';
import { FakeClock } from './fake-clock.js';
import { FakeRunner } from './fake-runner.js';

/** A job with lockd's defaults (DESIGN §7), overridden by `over`. */
export function jobConfig(name: string, over: Partial<JobConfig> = {}): JobConfig {
  return {
    name,
    schedule: '* * * * *',
    timezone: 'UTC',
    run: 'true',
    overlap: 'skip',
    misfire: 'run_once',
    deadlineMs: 600_000,
    retries: 0,
    retryBackoffMs: 1_000,
    killGraceMs: 5_000,
    jitterMs: 0,
    history: 100,
    outputTailBytes: 4096,
    env: {},
    ...over,
  };
}

/** One parsed pino line. */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

/** Every event hook call, in order, as `[hook, ...args]`. */
export type EventCall = [keyof SchedulerEvents, ...unknown[]];

export interface Harness {
  clock: FakeClock;
  store: FakeStore;
  backend: FakeBackend;
  leader: Lease;
  runner: FakeRunner;
  scheduler: Scheduler;
  logs: LogLine[];
  events: EventCall[];
  /** The stored run record of `job` at `slot`. */
  record(job: string, slot: number): RunRecord | undefined;
  /** The stored record of the manual run of `job` triggered at `ms`. */
  manualRecord(job: string, ms: number): RunRecord | undefined;
  /** All stored run records of `job`, by slot. */
  records(job: string): RunRecord[];
  state(job: string): JobState | undefined;
}

/**
 * A scheduler on a fake clock (starting at `now`), a fake backend (on `store`, so tests can seed
 * state or play another client) where it already leads, and a fake runner. Not started.
 */
export async function harness(
  jobs: JobConfig[],
  opts: {
    now: number;
    store?: FakeStore;
    auto?: FakeRunner['auto'];
    random?: () => number;
    withLeadershipSignal?: AbortSignal;
    clockTrusted?: () => Promise<boolean>;
    untrustedClock?: () => void;
  } = { now: 0 },
): Promise<Harness> {
  const clock = new FakeClock(opts.now);
  const store = opts.store ?? new FakeStore();
  const backend = new FakeBackend({ store });
  const leader = await backend.campaign({ node: 'n1', host: 'h1', pid: 1, since: new Date(opts.now).toISOString() });
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const events: EventCall[] = [];
  const hook =
    (name: keyof SchedulerEvents) =>
    (...args: unknown[]): void =>
      void events.push([name, ...args]);
  const runner = new FakeRunner(clock, opts.auto);
  const scheduler = new Scheduler({
    backend,
    leader,
    ...(opts.withLeadershipSignal ? { leadershipSignal: opts.withLeadershipSignal } : {}),
    jobs,
    cluster: 'c1',
    node: 'n1',
    clock,
    logger,
    runner: runner.run,
    events: {
      runStarted: hook('runStarted'),
      runFinished: hook('runFinished'),
      slotMissed: hook('slotMissed'),
      slotSkipped: hook('slotSkipped'),
      lockAcquired: hook('lockAcquired'),
      lockReleased: hook('lockReleased'),
    },
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.clockTrusted ? { clockTrusted: opts.clockTrusted } : {}),
    ...(opts.untrustedClock ? { untrustedClock: opts.untrustedClock } : {}),
  });
  return {
    clock,
    store,
    backend,
    leader,
    runner,
    scheduler,
    logs,
    events,
    record: (job, slot) => backend.json<RunRecord>(runKey(job, slot)),
    manualRecord: (job, ms) => backend.json<RunRecord>(runKey(job, ms, true)),
    records: (job) =>
      [...store.kv.keys()]
        .filter((k) => k.startsWith(runsPrefix(job)))
        .map((k) => backend.json<RunRecord>(k)!)
        .sort((a, b) => a.slot - b.slot),
    state: (job) => backend.json<JobState>(jobStateKey(job)),
  };
}

/** Seeds `jobs/<job>` as a previous leader would have left it. */
export function seedState(store: FakeStore, job: string, state: Partial<JobState> & { lastSlot: number }): void {
  store.kv.set(
    jobStateKey(job),
    JSON.stringify({ lastRunId: `${job}:${state.lastSlot}`, missedTotal: 0, updatedAt: new Date(state.lastSlot).toISOString(), ...state }),
  );
}
