import { formatSize } from './size.js';
import type { BackendConfig, JobConfig, LockdConfig } from './types.js';

/**
 * How many bytes lockd keeps in its backend, estimated from the config alone, and the budget it
 * should stay within (`storage_budget`). What is stored per job: its state (`jobs/<job>`) and up
 * to `history` run records (`runs/<job>/<slot>`), each at most `output_tail` bytes of output plus
 * the record's other fields. Requests, candidates and locks are a few keys per replica and are
 * left out. The estimate is an upper bound for records whose output is ordinary text: JSON escapes
 * control characters, so a tail of binary output can take up to six times its size.
 *
 * What the budget protects: etcd refuses every write once its database reaches its quota (2 GiB by
 * default: NOSPACE, and the cluster is read-only until an operator compacts, defragments and
 * disarms the alarm), and it keeps superseded revisions of every record until compaction; a
 * ZooKeeper ensemble holds the whole tree in the heap of every server; the embedded file grows on
 * the host's disk.
 */

/** Default `storage_budget` per backend kind (see the module comment for the reasons). */
export const DEFAULT_STORAGE_BUDGET: Readonly<Record<BackendConfig['type'], number>> = {
  // A quarter of etcd's default quota: room for revisions awaiting compaction, and for other users.
  etcd: 512 * 1024 ** 2,
  // Every ZooKeeper server keeps the whole tree in its heap.
  zookeeper: 256 * 1024 ** 2,
  embedded: 1024 ** 3,
  // Rows in a database a team already runs: a share it will not notice.
  postgres: 1024 ** 3,
  // Redis keeps everything in memory (and in its AOF): a modest share of a server others use too.
  redis: 256 * 1024 ** 2,
};

/** Default `output_tail`: the last 4 KiB of a run's output go into its record. */
export const DEFAULT_OUTPUT_TAIL_BYTES = 4096;
/** `history` when a job does not set it and the budget allows; and the least it falls to. */
export const DEFAULT_HISTORY = 100;
export const MIN_DEFAULT_HISTORY = 10;

/** A run record's fields other than its output, with room for a long error `reason`. */
const RECORD_FIELDS_BYTES = 512;
/** What the store spends per key beyond the value: the key path and the store's own metadata. */
const KEY_OVERHEAD_BYTES = 96;
/** A job's state (`jobs/<job>`) without the job name. */
const STATE_BYTES = 160;
/** Output is JSON text in the record: escaping adds a little for ordinary text. */
const OUTPUT_ESCAPING = 1.1;

/** The settings the estimate depends on. */
export type SizedJob = Pick<JobConfig, 'name' | 'outputTailBytes'>;

/** The most one run record of `job` takes in the backend, key included. */
export function recordBytes(job: SizedJob, cluster: string): number {
  const nameBytes = Buffer.byteLength(job.name);
  // The name is in the key, `job` and `runId`.
  return Math.ceil(RECORD_FIELDS_BYTES + KEY_OVERHEAD_BYTES + Buffer.byteLength(cluster) + 3 * nameBytes + job.outputTailBytes * OUTPUT_ESCAPING);
}

/** What `job`'s state (`jobs/<job>`) takes, key included. */
function stateBytes(job: SizedJob, cluster: string): number {
  return STATE_BYTES + KEY_OVERHEAD_BYTES + Buffer.byteLength(cluster) + 2 * Buffer.byteLength(job.name);
}

/** The most `job` takes in the backend: its state and `history` records. */
export function jobBytes(job: SizedJob & Pick<JobConfig, 'history'>, cluster: string): number {
  return stateBytes(job, cluster) + job.history * recordBytes(job, cluster);
}

/** The estimate for every job of a config. */
export function storageEstimate(jobs: readonly (SizedJob & Pick<JobConfig, 'history'>)[], cluster: string): number {
  let total = 0;
  for (const job of jobs) total += jobBytes(job, cluster);
  return total;
}

/**
 * The `history` of a job that does not set it: `DEFAULT_HISTORY`, or fewer when the budget shared
 * out evenly among `jobCount` jobs cannot hold that many of its records, but never fewer than
 * `MIN_DEFAULT_HISTORY` (`lockd validate` warns when even that exceeds the budget).
 */
export function defaultHistory(job: SizedJob, cluster: string, budgetBytes: number, jobCount: number): number {
  const share = budgetBytes / Math.max(1, jobCount) - stateBytes(job, cluster);
  const fits = Math.floor(share / recordBytes(job, cluster));
  return Math.min(DEFAULT_HISTORY, Math.max(MIN_DEFAULT_HISTORY, fits));
}

/**
 * Says when the jobs of `config` may keep more than its `storage_budget` in the backend, naming the
 * jobs that take the most and what to change; undefined when they fit.
 */
export function storageWarning(config: Pick<LockdConfig, 'cluster' | 'jobs' | 'storage' | 'backend'>): string | undefined {
  const { budgetBytes, estimateBytes } = config.storage;
  if (estimateBytes <= budgetBytes) return undefined;
  const largest = [...config.jobs]
    .map((job) => ({ job, bytes: jobBytes(job, config.cluster) }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 3)
    .map(({ job }) => `${job.name} (${job.history} records of up to ${formatSize(recordBytes(job, config.cluster))})`);
  const quota = config.backend.type === 'etcd' ? '; etcd refuses every write once its database reaches its quota (2 GiB by default)' : '';
  return (
    `the ${config.jobs.length} job(s) may keep ${formatSize(estimateBytes)} in the backend, over the ${formatSize(budgetBytes)} storage_budget${quota}. ` +
    `Largest: ${largest.join(', ')}. Lower history or output_tail, or raise storage_budget`
  );
}
