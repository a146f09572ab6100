import { createClient } from 'redis';
import type { ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import { startRedis } from '../test/helpers/redis-server.js';
import { failover } from './failover.js';
import { lockLatency, rawRedis } from './lock-latency.js';
import { failoverLines, latencyLines } from './postgres.js';

export interface RedisSectionOptions {
  ttlS: number;
  trials: number;
  progress: (what: string) => void;
}

/**
 * `npm run bench -- redis`: on a throwaway redis-server (test/helpers/redis-server.ts: loopback,
 * `appendonly yes`, `appendfsync always`), lock acquire + release against a raw `SET k v NX PX
 * 10000` + `DEL k` pair from a plain node-redis client, and crash failover and SIGTERM handoff of
 * `lockd run` replicas (bench/failover.ts). Returns the section's markdown lines; a measurement
 * that fails is listed there and the others still run.
 */
export async function redisSection(opts: RedisSectionOptions): Promise<string[]> {
  const server = await startRedis();
  const failures: string[] = [];
  const attempt = async <T>(what: string, measure: () => Promise<T>): Promise<T | undefined> => {
    opts.progress(what);
    try {
      return await measure();
    } catch (err) {
      failures.push(`${what}: ${String(err).split('\n')[0]}`);
      opts.progress(`${what} failed: ${String(err)}`);
      return undefined;
    }
  };
  try {
    const version = await serverVersion(server.url);
    const target: ProcessBackendTarget = {
      name: 'redis',
      setup: async () => undefined,
      teardown: async () => undefined,
      backendYaml: () => `  type: redis\n  url: ${server.url}`,
    };
    const latency = await attempt('redis latency', () => lockLatency('redis', { type: 'redis', url: server.url }, () => rawRedis(server.url)));
    const fresh = await attempt(`redis failover, fresh follower (${opts.trials} trials each)`, () => failover(target, opts.ttlS, opts.trials));
    // The reaper of a replica that just started must watch a session for a full TTL first.
    const settledMs = opts.ttlS * 1000 + 1000;
    const settled = await attempt(`redis failover, follower up ${settledMs} ms (${opts.trials} trials each)`, () => failover(target, opts.ttlS, opts.trials, settledMs));
    return [
      `## Redis (${version}, a throwaway server on loopback: appendonly yes, appendfsync always)`,
      '',
      ...(latency ? latencyLines(latency) : []),
      ...failoverLines(
        [
          ['killed as soon as the other replica logged `lockd started`', fresh],
          [`the other replica up ${settledMs} ms (≥ TTL + 1 s) before the kill`, settled],
        ],
        opts.trials,
        opts.ttlS,
      ),
      ...(failures.length === 0 ? [] : ['### Not measured (the measurement failed)', '', ...failures.map((f) => `- ${f}`), '']),
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
