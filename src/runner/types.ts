import type { Logger } from 'pino';
import type { JobConfig } from '../config/types.js';

/** One attempt of one run of a job. */
export interface RunRequest {
  job: JobConfig;
  runId: string;
  /** The `LOCKD_*` variables; the child sees daemon env + `job.env` + these (these win). */
  lockdEnv: Record<string, string>;
  /**
   * Aborting kills the child: SIGTERM to its process group, SIGKILL after `job.killGraceMs`; when
   * the reason is a `LeadershipLostError`, SIGKILL comes no later than its `killBy` (at once when it
   * has none: the backend reported the lease gone). Used for loss of leadership or of the job
   * lock, and for shutdown.
   */
  signal: AbortSignal;
  /** The runner logs the child's output through `logger.child({ job, run_id })`; pass one without those fields. */
  logger: Logger;
  /** Called once the child process exists (for `lockd_job_start_delay_seconds`). */
  onStarted?: (pid: number, startedAtMs: number) => void;
  /** Told of the child's process group, so a dead man's switch can kill it (src/fencing). */
  groups?: GroupRegistry;
}

/**
 * Where a runner reports the process groups it starts, for the dead man's switch. `add` is called
 * right after the spawn, `remove` once no member of the group is alive (or SIGKILL failed to end
 * it, which is logged).
 */
export interface GroupRegistry {
  add(pgid: number, killGraceMs: number): void;
  remove(pgid: number): void;
}

export type AttemptOutcome = 'success' | 'failed' | 'timeout' | 'killed' | 'spawn_error';

export interface AttemptResult {
  outcome: AttemptOutcome;
  exitCode: number | null;
  /** Signal name that ended the child, e.g. `SIGKILL`. */
  signal: string | null;
  /** Epoch ms. */
  startedAt: number;
  endedAt: number;
  durationMs: number;
  /** Last 4 KiB of stdout and stderr interleaved in arrival order. */
  outputTail: string;
  /** Why it failed to spawn, or what killed it (`timeout after 30s`, the abort reason). */
  error?: string;
}

/** Runs one attempt to completion. Never rejects: spawn failures are `spawn_error` results. */
export type JobRunner = (request: RunRequest) => Promise<AttemptResult>;
