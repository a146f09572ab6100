import { BACKEND_SPEC } from './backend-spec.js';
import { JOBS_SPEC } from './job-spec.js';
import { SEGMENT_PATTERN } from './names.js';
import { formatSize } from './size.js';
import type { DurationSpec, EnumSpec, MappingSpec, SizeSpec, StringSpec } from './spec.js';
import { DEFAULT_STORAGE_BUDGET } from './storage-budget.js';

const budgetDefaults = Object.entries(DEFAULT_STORAGE_BUDGET)
  .map(([type, bytes]) => `${type} ${formatSize(bytes)}`)
  .join(', ');

export const LEADER_SPEC = {
  kind: 'mapping',
  description: 'Leader election',
  keys: {
    // Below 2 s keep-alives cannot keep up; above 5 m failover is too slow to be useful.
    ttl: {
      kind: 'duration',
      min: 2_000,
      max: 5 * 60_000,
      default: 10_000,
      description: 'Lease TTL: a crashed leader is replaced within about ttl + 1s',
    } satisfies DurationSpec,
    max_clock_skew: {
      kind: 'duration',
      min: 1000,
      default: 5000,
      description: "A leader whose clock is off by more than this from the candidates' median resigns",
    } satisfies DurationSpec,
  },
} as const satisfies MappingSpec;

export const HTTP_SPEC = {
  kind: 'mapping',
  description: 'The HTTP endpoint: /, /metrics, /healthz, /readyz, /status (absent: disabled)',
  keys: {
    listen: { kind: 'string', description: 'host:port to listen on, e.g. 127.0.0.1:9464 (port 0: any free port)' } satisfies StringSpec,
  },
  required: ['listen'],
} as const satisfies MappingSpec;

export const LOG_SPEC = {
  kind: 'mapping',
  description: 'Logging',
  keys: {
    level: {
      kind: 'enum',
      values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
      default: 'info',
      description: 'The least level logged; LOCKD_LOG_LEVEL overrides it',
    } satisfies EnumSpec,
  },
} as const satisfies MappingSpec;

/** The whole document (DESIGN §7). */
export const CONFIG_SPEC = {
  kind: 'mapping',
  description: 'lockd configuration: leader election and distributed cron',
  keys: {
    cluster: {
      kind: 'string',
      default: 'default',
      pattern: SEGMENT_PATTERN,
      description: 'Replicas with the same cluster (and backend) elect one leader',
    } satisfies StringSpec,
    node: { kind: 'string', description: "This replica's name (default: <hostname>-<pid>), e.g. ${POD_NAME}" } satisfies StringSpec,
    backend: BACKEND_SPEC,
    leader: LEADER_SPEC,
    shutdown_grace: { kind: 'duration', default: 30_000, description: 'On SIGTERM, running jobs get this long to finish' } satisfies DurationSpec,
    http: HTTP_SPEC,
    log: LOG_SPEC,
    storage_budget: {
      kind: 'size',
      min: 1024 ** 2,
      max: 64 * 1024 ** 3,
      description: `The most run records may take in the backend (default: ${budgetDefaults}); validate warns beyond it`,
    } satisfies SizeSpec,
    jobs: JOBS_SPEC,
  },
} as const satisfies MappingSpec;
