import { hostname } from 'node:os';
import type { ParsedNode } from 'yaml';
import { LockdError } from '../errors.js';
import { DEFAULT_BACKEND, readBackend } from './backend-schema.js';
import { CONFIG_SPEC, HTTP_SPEC, LEADER_SPEC, LOG_SPEC } from './config-spec.js';
import { parseHostPort } from './host-port.js';
import { readJob, type JobDraft } from './job-schema.js';
import { DEFAULT_STORAGE_BUDGET, defaultHistory, storageEstimate } from './storage-budget.js';
import { segmentProblem } from './names.js';
import { keyNames } from './spec.js';
import type { JobConfig, LockdConfig } from './types.js';
import type { ConfigReader, Entry } from './yaml-reader.js';

/**
 * Reads the whole document (DESIGN §7) into a `LockdConfig` with every default filled in.
 * `root` undefined means an empty file: all defaults, no jobs. `LOCKD_LOG_LEVEL` in the
 * reader's env, when set and non-empty, overrides `log.level`. Problems are recorded on
 * `reader`; the returned value is meaningful only when none were.
 */
export function readConfig(reader: ConfigReader, root: ParsedNode | undefined, file: string): LockdConfig {
  const top = CONFIG_SPEC.keys;
  const fields = reader.mapping(root && { name: '(top level)', key: root, value: root }, keyNames(CONFIG_SPEC)) ?? new Map();

  const clusterEntry = fields.get('cluster');
  const cluster = reader.string(clusterEntry) ?? top.cluster.default;
  const badCluster = segmentProblem('cluster', cluster);
  if (clusterEntry && badCluster !== undefined) reader.reportValue(clusterEntry, badCluster);

  const nodeEntry = fields.get('node');
  const node = reader.string(nodeEntry) ?? `${hostname()}-${process.pid}`;
  if (nodeEntry && node.trim() === '') reader.reportValue(nodeEntry, 'must not be empty');

  const { ttl, max_clock_skew } = LEADER_SPEC.keys;
  const leader = reader.mapping(fields.get('leader'), keyNames(LEADER_SPEC));
  const ttlMs = reader.duration(leader?.get('ttl'), ttl) ?? ttl.default;
  const maxClockSkewMs = reader.duration(leader?.get('max_clock_skew'), max_clock_skew) ?? max_clock_skew.default;

  const backend = readBackend(reader, fields.get('backend')) ?? { ...DEFAULT_BACKEND };
  const drafts: JobDraft[] = [];
  for (const entry of (reader.mapping(fields.get('jobs')) ?? new Map<string, Entry>()).values()) {
    const job = readJob(reader, entry, backend.type);
    if (job) drafts.push(job);
  }
  const budgetBytes = reader.size(fields.get('storage_budget'), top.storage_budget) ?? DEFAULT_STORAGE_BUDGET[backend.type];
  const jobs: JobConfig[] = drafts.map((job) => ({ ...job, history: job.history ?? defaultHistory(job, cluster, budgetBytes, drafts.length) }));

  const http = readHttp(reader, fields.get('http'));
  return {
    file,
    cluster,
    node,
    backend,
    leader: { ttlMs, maxClockSkewMs },
    shutdownGraceMs: reader.duration(fields.get('shutdown_grace'), top.shutdown_grace) ?? top.shutdown_grace.default,
    ...(http === undefined ? {} : { http }),
    log: { level: readLogLevel(reader, fields.get('log')) },
    storage: { budgetBytes, estimateBytes: storageEstimate(jobs, cluster) },
    jobs,
  };
}

function readHttp(reader: ConfigReader, entry: Entry | undefined): { listen: string } | undefined {
  const fields = entry?.value === undefined ? undefined : reader.mapping(entry, keyNames(HTTP_SPEC));
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
  const spec = LOG_SPEC.keys.level;
  const fields = reader.mapping(entry, keyNames(LOG_SPEC));
  const level = reader.oneOf(fields?.get('level'), spec.values) ?? spec.default;
  const override = reader.env.LOCKD_LOG_LEVEL;
  if (override === undefined || override === '') return level;
  if ((spec.values as readonly string[]).includes(override)) return override;
  reader.report(undefined, `LOCKD_LOG_LEVEL: expected one of ${spec.values.join(', ')}, got "${override}"`);
  return level;
}
