import { LockdCluster, type ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import type { LockdProcess } from '../test/helpers/lockd-process.js';
import { freePort } from '../test/helpers/ports.js';

/** One `lockd run` (a cluster of its own) and how long it took to start scheduling. */
export interface ScaleDaemon {
  cluster: LockdCluster;
  lockd: LockdProcess;
  /** The `jobs:` body its config was written with. */
  jobs: string;
  /** `http://127.0.0.1:<port>`: its HTTP server. */
  url: string;
  /** Wall clock (ms since epoch) of its 'scheduling started' line, as the daemon logged it. */
  schedulingAt: number;
  /** ms from the spawn of `lockd run` to the 'scheduling started' line (as read by this process). */
  spawnToScheduling: number;
  /** ms from its 'became leader' line to its 'scheduling started' line (as read by this process). */
  leaderToScheduling: number;
}

/**
 * Starts a single `lockd run` with the `jobs:` body `jobsYaml(cluster)` (indented 2; files it names
 * belong in the cluster's dir) on `target`, where it leads alone, and resolves once it logs
 * 'scheduling started'. Logs at debug (the test helper's level), which the keep-alive figures
 * need. Stop it with `cluster.stop()`.
 */
export async function startScaleDaemon(target: ProcessBackendTarget, ttlS: number, jobsYaml: (cluster: LockdCluster) => string, timeoutMs: number): Promise<ScaleDaemon> {
  const port = await freePort();
  const cluster = new LockdCluster(target, { ttl: `${ttlS}s`, extraYaml: `http:\n  listen: 127.0.0.1:${port}` });
  const jobs = jobsYaml(cluster);
  return measureStart(cluster, 'solo', jobs, port, timeoutMs);
}

/**
 * Kills `daemon`'s `lockd run` (SIGKILL: a crash, its lease left to expire) and starts another
 * replica of its cluster with the same jobs, which finds every job's state stored, as a new leader
 * after a failover does; resolves once that one logs 'scheduling started'. The spawn → scheduling
 * figure includes the wait for the dead leader's lease to expire; became leader → scheduling does
 * not. Stop it with `cluster.stop()`.
 */
export async function crashAndRestart(daemon: ScaleDaemon, timeoutMs: number): Promise<ScaleDaemon> {
  await daemon.lockd.stop();
  return measureStart(daemon.cluster, 'solo-2', daemon.jobs, Number(new URL(daemon.url).port), timeoutMs);
}

async function measureStart(cluster: LockdCluster, node: string, jobs: string, port: number, timeoutMs: number): Promise<ScaleDaemon> {
  const spawnedAt = performance.now();
  const lockd = cluster.start(node, jobs);
  try {
    const leader = await lockd.waitForLeadership(timeoutMs);
    const scheduling = await lockd.waitForLog((l) => l.msg === 'scheduling started', timeoutMs);
    return {
      cluster,
      lockd,
      jobs,
      url: `http://127.0.0.1:${port}`,
      schedulingAt: Date.parse(scheduling.time),
      spawnToScheduling: scheduling.seenAt - spawnedAt,
      leaderToScheduling: scheduling.seenAt - leader.seenAt,
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}
