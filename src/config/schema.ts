import { hostname } from 'node:os';
import type { ParsedNode } from 'yaml';
import { LockdError } from '../errors.js';
import { DEFAULT_BACKEND, readBackend } from './backend-schema.js';
import { parseHostPort } from './host-port.js';
import { readJob, type JobDraft } from './job-schema.js';
import { DEFAULT_STORAGE_BUDGET, defaultHistory, storageEstimate } from './storage-budget.js';
import { segmentProblem } from './names.js';
import type { JobConfig, LockdConfig } from './types.js';
import type { ConfigReader, Entry } from './yaml-reader.js';

const TOP_KEYS = ['cluster', 'node', 'backend', 'leader', 'shutdown_grace', 'http', 'log', 'storage_budget', 'jobs'] as const;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** Bounds on `leader.ttl`: below 2 s keep-alives cannot keep up; above 5 m failover is too slow to be useful. */
const TTL_MIN_MS = 2_000;
const TTL_MAX_MS = 5 * 60_000;
/** Bounds on `storage_budget`. */
const STORAGE_BUDGET_MIN_BYTES = 1024 ** 2;
const STORAGE_BUDGET_MAX_BYTES = 64 * 1024 ** 3;

/**
 * Reads the whole document (DESIGN §7) into a `LockdConfig` with every default filled in.
 * `root` undefined means an empty file: all defaults, no jobs. `LOCKD_LOG_LEVEL` in the
 * reader's env, when set and non-empty, overrides `log.level`. Problems are recorded on
 * `reader`; the returned value is meaningful only when none were.
 */
export function readConfig(reader: ConfigReader, root: ParsedNode | undefined, file: string): LockdConfig {
  const fields = reader.mapping(root && { name: '(top level)', key: root, value: root }, TOP_KEYS) ?? new Map();

  const clusterEntry = fields.get('cluster');
  const cluster = reader.string(clusterEntry) ?? 'default';
  const badCluster = segmentProblem('cluster', cluster);
  if (clusterEntry && badCluster !== undefined) reader.reportValue(clusterEntry, badCluster);

  const nodeEntry = fields.get('node');
  const node = reader.string(nodeEntry) ?? `${hostname()}-${process.pid}`;
  if (nodeEntry && node.trim() === '') reader.reportValue(nodeEntry, 'must not be empty');

  const leader = reader.mapping(fields.get('leader'), ['ttl', 'max_clock_skew']);
  const ttlMs = reader.duration(leader?.get('ttl'), { min: TTL_MIN_MS, max: TTL_MAX_MS }) ?? 10_000;
  const maxClockSkewMs = reader.duration(leader?.get('max_clock_skew'), { min: 1000 }) ?? 5000;

  const drafts: JobDraft[] = [];
  for (const entry of (reader.mapping(fields.get('jobs')) ?? new Map<string, Entry>()).values()) {
    const job = readJob(reader, entry);
    if (job) drafts.push(job);
  }
  const backend = readBackend(reader, fields.get('backend')) ?? { ...DEFAULT_BACKEND };
  const budgetBytes = reader.size(fields.get('storage_budget'), { min: STORAGE_BUDGET_MIN_BYTES, max: STORAGE_BUDGET_MAX_BYTES }) ?? DEFAULT_STORAGE_BUDGET[backend.type];
  const jobs: JobConfig[] = drafts.map((job) => ({ ...job, history: job.history ?? defaultHistory(job, cluster, budgetBytes, drafts.length) }));

  const http = readHttp(reader, fields.get('http'));
  return {
    file,
    cluster,
    node,
    backend,
    leader: { ttlMs, maxClockSkewMs },
    shutdownGraceMs: reader.duration(fields.get('shutdown_grace')) ?? 30_000,
    ...(http === undefined ? {} : { http }),
    log: { level: readLogLevel(reader, fields.get('log')) },
    storage: { budgetBytes, estimateBytes: storageEstimate(jobs, cluster) },
    jobs,
  };
}

function readHttp(reader: ConfigReader, entry: Entry | undefined): { listen: string } | undefined {
  const fields = entry?.value === undefined ? undefined : reader.mapping(entry, ['listen']);
  if (entry === undefined || fields === undefined) return undefined;
  const listenEntry = reader.require(fields, 'listen', entry, 'http: ');
  const listen = reader.string(listenEntry);
  if (listenEntry === undefined || listen === undefined) return undefined;
  try {
    parseHostPort(listen, { allowPortZero: true });
  } catch (err) {
    if (!(err instanceof LockdError)) throw err;
    reader.reportValue(listenEntry, err.message);
  }
  return { listen };
}

function readLogLevel(reader: ConfigReader, entry: Entry | undefined): string {
  const fields = reader.mapping(entry, ['level']);
  const level = reader.oneOf(fields?.get('level'), LOG_LEVELS) ?? 'info';
  const override = reader.env.LOCKD_LOG_LEVEL;
  if (override === undefined || override === '') return level;
  if ((LOG_LEVELS as readonly string[]).includes(override)) return override;
  reader.report(undefined, `LOCKD_LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got "${override}"`);
  return level;
}
