import type { Logger } from 'pino';
import type { JobConfig } from '../config/types.js';

/** One attempt of one run of a job. */
export interface RunRequest {
  job: JobConfig;
  runId: string;
  /** The `LOCKD_*` variables; the child sees daemon env + `job.env` + these (these win). */
  lockdEnv: Record<string, string>;
  /**
   * Aborting kills the child: SIGTERM to its process group, SIGKILL after `job.killGraceMs`.
   * Used for loss of leadership or of the job lock, and for shutdown.
   */
  signal: AbortSignal;
  /** The runner logs the child's output through `logger.child({ job, run_id })`; pass one without those fields. */
  logger: Logger;
  /** Called once the child process exists (for `lockd_job_start_delay_seconds`). */
  onStarted?: (pid: number, startedAtMs: number) => void;
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
