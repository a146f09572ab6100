/**
 * The validated, normalised configuration (DESIGN §7). Durations are milliseconds; defaults are
 * filled in. Produced only by `loadConfig` / `parseConfig` in `src/config/load.ts`.
 */

export type OverlapPolicy = 'skip' | 'queue' | 'allow';
export type MisfirePolicy = 'skip' | 'run_once' | 'run_all';

export interface JobConfig {
  name: string;
  schedule: string;
  /** IANA time zone; default `UTC`. */
  timezone: string;
  /** Exactly one of `run` (shell string, `/bin/sh -c`) and `command` (argv) is set. */
  run?: string;
  command?: string[];
  /** ms; undefined = no timeout. */
  timeoutMs?: number;
  overlap: OverlapPolicy;
  misfire: MisfirePolicy;
  /** ms a slot may be started late (misfire and `queue`); default 10m. */
  deadlineMs: number;
  retries: number;
  retryBackoffMs: number;
  killGraceMs: number;
  jitterMs: number;
  /**
   * Run records kept for this job. Default 100, or fewer (at least 10) when the jobs' share of
   * `storage_budget` cannot hold 100 (see src/config/storage-budget.ts).
   */
  history: number;
  /**
   * `advisory_lock` (PostgreSQL only): the session advisory lock key lockd also holds while a run
   * lives, so that code guarding the same work with `pg_try_advisory_lock(key)` and lockd exclude
   * each other.
   */
  advisoryLock?: bigint;
  /**
   * `seats`: the job runs only while it holds one of the `count` seats of the cluster's seat set
   * `name` (taken after the job lock, released with it; see src/scheduler/job-lock.ts).
   */
  seats?: JobSeats;
  /** Bytes of the run's output kept in its record (`output_tail`, default 4 KiB, 0 keeps none). */
  outputTailBytes: number;
  env: Record<string, string>;
  cwd?: string;
}

/** A job's `seats`: seat set `name` (a segment name, see src/config/names.ts) of `count` seats (1..1000). */
export interface JobSeats {
  name: string;
  count: number;
}

export type BackendConfig =
  | { type: 'embedded'; path: string }
  | {
      type: 'etcd';
      endpoints: string[];
      username?: string;
      password?: string;
      tls?: { ca?: string; cert?: string; key?: string };
    }
  | { type: 'zookeeper'; connect: string; auth?: { scheme: 'digest'; credentials: string } }
  | { type: 'postgres'; url: string; schema: string; tls?: { ca?: string; cert?: string; key?: string } }
  /** One Redis primary by `url`, or the primary a set of sentinels names (exactly one of them). */
  | { type: 'redis'; url: string; tls?: { ca?: string; cert?: string; key?: string } }
  | { type: 'redis'; sentinel: RedisSentinelConfig }
  /** Redlock: independent primaries (3 or 5), each operation counted on a majority of them. */
  | { type: 'redis'; redlock: string[] };

/** `backend.sentinel` of Redis: which master, whom to ask, how many replicas confirm a write. */
export interface RedisSentinelConfig {
  /** The name in `sentinel monitor <name> ...`. */
  master: string;
  /** `host:port` of each sentinel. */
  nodes: string[];
  /** ACL user and password of the data nodes (not of the sentinels). */
  username?: string;
  password?: string;
  /** `min_replicas_ack`: replicas that must confirm each write (WAIT) before it counts; 0 = none. */
  minReplicasAck: number;
}

export interface LockdConfig {
  /** Absolute path of the file this came from. */
  file: string;
  cluster: string;
  node: string;
  backend: BackendConfig;
  /**
   * `maxClockSkewMs` (`leader.max_clock_skew`, default 5 s): a leader whose wall clock is off by more
   * than this from the median of the live candidates' clocks resigns rather than schedule from it.
   */
  leader: { ttlMs: number; maxClockSkewMs: number };
  shutdownGraceMs: number;
  /** `host:port`; undefined = HTTP disabled. */
  http?: { listen: string };
  log: { level: string };
  /**
   * `budgetBytes` (`storage_budget`, default per backend) and the most the jobs' states and
   * records take in the backend at their `history` and `output_tail` (src/config/storage-budget.ts).
   */
  storage: { budgetBytes: number; estimateBytes: number };
  /** In file order. */
  jobs: JobConfig[];
}
