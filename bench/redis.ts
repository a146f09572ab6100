import { createClient } from 'redis';
import type { ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import { startRedis } from '../test/helpers/redis-server.js';
import { startRedlockPrimaries } from '../test/helpers/redlock-primaries.js';
import { lockLatency, rawRedis, rawRedlock } from './lock-latency.js';
import { failoverTwice, latencyLines, Measurements } from './row-backend-bench.js';
import { burst } from './scale-burst.js';
import { burstSectionLines } from './scale-report.js';
import type { ScaleSettings } from './scale.js';

export interface RedisSectionOptions {
  ttlS: number;
  trials: number;
  /** The burst's settings (`BENCH_SCALE_*`, as in the scale section); its TTL is the scale section's too. */
  scale: ScaleSettings;
  progress: (what: string) => void;
}

/**
 * `npm run bench -- redis`: on a throwaway redis-server (test/helpers/redis-server.ts: loopback,
 * `appendonly yes`, `appendfsync always`), lock acquire + release against a raw `SET k v NX PX
 * 10000` + `DEL k` pair from a plain node-redis client; in Redlock mode on three more throwaway
 * primaries, against that pair on all three in parallel; crash failover and SIGTERM handoff of
 * `lockd run` replicas (bench/failover.ts); and a burst of `scale.burstJobs` jobs on the single
 * primary against as many bare spawns (bench/scale-burst.ts). Returns the section's markdown lines; a measurement
 * that fails is listed there and the others still run.
 */
export async function redisSection(opts: RedisSectionOptions): Promise<string[]> {
  const server = await startRedis();
  const m = new Measurements(opts.progress);
  try {
    const version = await serverVersion(server.url);
    const target: ProcessBackendTarget = {
      name: 'redis',
      setup: async () => undefined,
      teardown: async () => undefined,
      backendYaml: () => `  type: redis\n  url: ${server.url}`,
    };
    const latency = await m.attempt('redis latency', () => lockLatency('redis', { type: 'redis', url: server.url }, () => rawRedis(server.url)));
    const redlock = await m.attempt('redis redlock latency', async () => {
      const primaries = await startRedlockPrimaries(3, 10_000);
      try {
        const urls = primaries.map((p) => p.url);
        return await lockLatency('redis redlock', { type: 'redis', redlock: urls }, () => rawRedlock(urls));
      } finally {
        await Promise.all(primaries.map((p) => p.stop()));
      }
    });
    const failoverTable = await failoverTwice(m, target, opts.ttlS, opts.trials);
    const s = opts.scale;
    const bursts = await m.attempt(`redis: ${s.bursts} bursts of ${s.burstJobs} jobs`, () =>
      burst(target, { ttlS: s.ttlS, jobs: s.burstJobs, periodS: s.periodS, bursts: s.bursts, startTimeoutMs: 120_000 }),
    );
    return [
      `## Redis (${version}, a throwaway server on loopback: appendonly yes, appendfsync always)`,
      '',
      ...(latency ? latencyLines(latency) : []),
      ...(redlock ? ['Redlock mode, three primaries:', '', ...latencyLines(redlock)] : []),
      ...failoverTable,
      ...(bursts ? burstSectionLines(bursts, s) : []),
      ...m.failureLines(),
    ];
  } finally {
    await server.stop();
  }
}

async function serverVersion(url: string): Promise<string> {
  const client = createClient({ url, RESP: 2 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const info = String(await client.sendCommand(['INFO', 'server']));
    return `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}`;
  } finally {
    client.destroy();
  }
}
