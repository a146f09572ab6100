import pg from 'pg';
import type { ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import { startPostgres } from '../test/helpers/postgres-server.js';
import { lockLatency, rawPostgres } from './lock-latency.js';
import { failoverTwice, latencyLines, Measurements } from './row-backend-bench.js';
import { burst } from './scale-burst.js';
import { burstSectionLines } from './scale-report.js';
import type { ScaleSettings } from './scale.js';

export interface PostgresSectionOptions {
  ttlS: number;
  trials: number;
  /** The burst's settings (`BENCH_SCALE_*`, as in the scale section); its TTL is the scale section's too. */
  scale: ScaleSettings;
  progress: (what: string) => void;
}

/**
 * `npm run bench -- postgres`: on a throwaway PostgreSQL 15 server (test/helpers/postgres-server.ts:
 * loopback, fsync and synchronous_commit on), lock acquire + release against raw autocommit
 * statements from a plain `pg.Client`, crash failover and SIGTERM handoff of `lockd run`
 * replicas (bench/failover.ts), and a burst of `scale.burstJobs` jobs against as many bare spawns
 * (bench/scale-burst.ts). Returns the section's markdown lines; a measurement that fails is
 * listed there and the others still run.
 */
export async function postgresSection(opts: PostgresSectionOptions): Promise<string[]> {
  const server = await startPostgres();
  const m = new Measurements(opts.progress);
  try {
    const version = await serverVersion(server.url);
    const target: ProcessBackendTarget = {
      name: 'postgres',
      setup: async () => undefined,
      teardown: async () => undefined,
      backendYaml: () => `  type: postgres\n  url: ${server.url}`,
    };
    const latency = await m.attempt('postgres latency', () =>
      lockLatency('postgres', { type: 'postgres', url: server.url, schema: 'lockd' }, () => rawPostgres(server.url)),
    );
    const failoverTable = await failoverTwice(m, target, opts.ttlS, opts.trials);
    const s = opts.scale;
    const bursts = await m.attempt(`postgres: ${s.bursts} bursts of ${s.burstJobs} jobs`, () =>
      burst(target, { ttlS: s.ttlS, jobs: s.burstJobs, periodS: s.periodS, bursts: s.bursts, startTimeoutMs: 120_000 }),
    );
    return [
      `## PostgreSQL (${version}, a throwaway server on loopback: fsync=on, synchronous_commit=on)`,
      '',
      ...(latency ? latencyLines(latency) : []),
      ...failoverTable,
      ...(bursts ? burstSectionLines(bursts, s) : []),
      ...m.failureLines(),
    ];
  } finally {
    await server.stop();
  }
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return `PostgreSQL ${rows[0]?.server_version.split(' ')[0] ?? '?'}`;
  } finally {
    await client.end();
  }
}
