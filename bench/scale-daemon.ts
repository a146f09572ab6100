import { LockdCluster, type ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import type { LockdProcess } from '../test/helpers/lockd-process.js';
import { freePort } from '../test/helpers/ports.js';

/** One `lockd run` (a cluster of its own) and how long it took to start scheduling. */
export interface ScaleDaemon {
  cluster: LockdCluster;
  lockd: LockdProcess;
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
  const spawnedAt = performance.now();
  const lockd = cluster.start('solo', jobsYaml(cluster));
  try {
    const leader = await lockd.waitForLeadership(timeoutMs);
    const scheduling = await lockd.waitForLog((l) => l.msg === 'scheduling started', timeoutMs);
    return {
      cluster,
      lockd,
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
