import { MAX_SEATS } from '../election/seats.js';
import { SEGMENT_PATTERN } from './names.js';
import { DEFAULT_OUTPUT_TAIL_BYTES } from './storage-budget.js';
import type { DurationSpec, EnumSpec, IntegerSpec, MapSpec, MappingSpec, SizeSpec, StringSpec, TextSpec, ListSpec } from './spec.js';
import type { MisfirePolicy, OverlapPolicy } from './types.js';

const OVERLAP = {
  kind: 'enum',
  values: ['skip', 'queue', 'allow'],
  default: 'skip',
  description: 'When a slot comes while the previous run is still going: skip it, queue it (within deadline), or allow both',
} as const satisfies EnumSpec<OverlapPolicy>;

const MISFIRE = {
  kind: 'enum',
  values: ['skip', 'run_once', 'run_all'],
  default: 'run_once',
  description: 'Slots missed while no leader ran (within deadline): skip them, run the latest once, or run them all',
} as const satisfies EnumSpec<MisfirePolicy>;

/** `seats`: the job runs only while it holds one of `count` seats of the cluster's seat set `name`. */
export const SEATS_SPEC = {
  kind: 'mapping',
  description:
    "A seat of a seat set the job holds while it runs (at most count such runs, lockd lock --seats and library holders at once); the slot is skipped (seats_full) or queued while every seat is taken",
  keys: {
    name: { kind: 'string', pattern: SEGMENT_PATTERN, description: 'The seat set, e.g. gpu (letters, digits, "_", "." and "-", starting with a letter or digit)' } satisfies StringSpec,
    count: { kind: 'integer', min: 1, max: MAX_SEATS, description: 'How many seats the set has; every holder should pass the same count' } satisfies IntegerSpec,
  },
  required: ['name', 'count'],
} as const satisfies MappingSpec;

/** One entry of `jobs` (DESIGN §7); the keys of `JobConfig` as spelled in the file. */
export const JOB_SPEC = {
  kind: 'mapping',
  description: 'A job: run once per slot of its schedule, by the leader, with a fencing token',
  keys: {
    schedule: {
      kind: 'string',
      description: 'Cron expression (5 fields, or 6 with seconds first) or @hourly, @daily, ...',
    } satisfies StringSpec,
    timezone: { kind: 'string', default: 'UTC', description: 'IANA time zone the schedule is read in, e.g. Europe/Berlin' } satisfies StringSpec,
    run: { kind: 'string', description: 'A shell line, run with /bin/sh -c (set run or command, not both)' } satisfies StringSpec,
    command: {
      kind: 'list',
      minItems: 1,
      items: { kind: 'text', description: 'One argument; the first is the program' } satisfies TextSpec,
      description: 'The program and its arguments, run without a shell (set run or command, not both)',
    } satisfies ListSpec,
    timeout: { kind: 'duration', min: 1, description: "A run's time limit: SIGTERM to its process group, SIGKILL after kill_grace (default: none)" } satisfies DurationSpec,
    overlap: OVERLAP,
    misfire: MISFIRE,
    deadline: { kind: 'duration', min: 1, default: 10 * 60_000, description: 'The most a slot may start late (misfire and queue)' } satisfies DurationSpec,
    retries: { kind: 'integer', min: 0, max: 100, default: 0, description: 'Further attempts after a failed run' } satisfies IntegerSpec,
    retry_backoff: { kind: 'duration', default: 10_000, description: 'Wait between attempts' } satisfies DurationSpec,
    kill_grace: { kind: 'duration', default: 5_000, description: 'SIGTERM to SIGKILL on timeout and shutdown (capped on lease loss)' } satisfies DurationSpec,
    jitter: { kind: 'duration', default: 0, description: 'Up to this long a random delay before each run' } satisfies DurationSpec,
    history: {
      kind: 'integer',
      min: 1,
      max: 10_000,
      description: 'Run records kept (default 100, fewer, at least 10, when storage_budget cannot hold 100 per job)',
    } satisfies IntegerSpec,
    advisory_lock: {
      kind: 'integer',
      min: -(2 ** 63),
      max: 2 ** 63 - 1,
      description:
        'PostgreSQL only: a 64-bit key of pg_try_advisory_lock that lockd also holds while the job runs; the slot is skipped (lock_held) while another session holds it',
    } satisfies IntegerSpec,
    seats: SEATS_SPEC,
    output_tail: {
      kind: 'size',
      min: 0,
      max: 64 * 1024,
      default: DEFAULT_OUTPUT_TAIL_BYTES,
      description: "Bytes of the run's output kept in its record (0 keeps none; every line is logged regardless)",
    } satisfies SizeSpec,
    env: {
      kind: 'map',
      keyPattern: '^[A-Za-z_][A-Za-z0-9_]*$',
      values: { kind: 'text', nullable: true, description: 'The value; empty inherits the daemon\'s value' } satisfies TextSpec,
      description: "Environment variables for the job's process, on top of the daemon's",
    } satisfies MapSpec,
    cwd: { kind: 'string', description: "The job's working directory (default: the daemon's)" } satisfies StringSpec,
  },
  required: ['schedule'],
  exactlyOne: [['run', 'command']],
} as const satisfies MappingSpec;

/** `jobs`: job names are segments of backend key paths (see names.ts). */
export const JOBS_SPEC = {
  kind: 'map',
  keyPattern: SEGMENT_PATTERN,
  values: JOB_SPEC,
  description: 'The jobs, by name (letters, digits, "_", "." and "-", starting with a letter or digit)',
} as const satisfies MapSpec;
