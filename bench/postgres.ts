import pg from 'pg';
import type { ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import { startPostgres } from '../test/helpers/postgres-server.js';
import { failover, type FailoverRow } from './failover.js';
import { lockLatency, rawPostgres, type LatencyRow } from './lock-latency.js';
import { burst, type BurstRow } from './scale-burst.js';
import { burstTable, renewalTable } from './scale-report.js';
import type { ScaleSettings } from './scale.js';
import { markdownTable, ms, percentile } from './stats.js';

/** The lock latency target of the PostgreSQL backend: lockd's p50 within this of the raw statements'. */
const LATENCY_TARGET = 1.5;

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
      name: 'postgres',
      setup: async () => undefined,
      teardown: async () => undefined,
      backendYaml: () => `  type: postgres\n  url: ${server.url}`,
    };
    const latency = await attempt('postgres latency', () =>
      lockLatency('postgres', { type: 'postgres', url: server.url, schema: 'lockd' }, () => rawPostgres(server.url)),
    );
    const fresh = await attempt(`postgres failover, fresh follower (${opts.trials} trials each)`, () => failover(target, opts.ttlS, opts.trials));
    // The reaper of a replica that just started must watch a session for a full TTL first.
    const settledMs = opts.ttlS * 1000 + 1000;
    const settled = await attempt(`postgres failover, follower up ${settledMs} ms (${opts.trials} trials each)`, () => failover(target, opts.ttlS, opts.trials, settledMs));
    const s = opts.scale;
    const bursts = await attempt(`postgres: ${s.bursts} bursts of ${s.burstJobs} jobs`, () =>
      burst(target, { ttlS: s.ttlS, jobs: s.burstJobs, periodS: s.periodS, bursts: s.bursts, startTimeoutMs: 120_000 }),
    );
    return [
      `## PostgreSQL (${version}, a throwaway server on loopback: fsync=on, synchronous_commit=on)`,
      '',
      ...(latency ? latencyLines(latency) : []),
      ...failoverLines([
        ['killed as soon as the other replica logged `lockd started`', fresh],
        [`the other replica up ${settledMs} ms (≥ TTL + 1 s) before the kill`, settled],
      ], opts.trials, opts.ttlS),
      ...(bursts ? burstLines(bursts, s) : []),
      ...(failures.length === 0 ? [] : ['### Not measured (the measurement failed)', '', ...failures.map((f) => `- ${f}`), '']),
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

export function latencyLines(r: LatencyRow): string[] {
  const p50 = r.lockdP50 / r.rawP50;
  const p99 = r.lockdP99 / r.rawP99;
  return [
    `### Lock acquire + release (ms, 400 samples after 40 warm-up, alternating call by call; target ≤ ${LATENCY_TARGET}× at p50)`,
    '',
    markdownTable(
      ['lockd p50', 'lockd p99', 'raw p50', 'raw p99', 'p50 ratio', 'p99 ratio', 'target', 'baseline'],
      [[ms(r.lockdP50), ms(r.lockdP99), ms(r.rawP50), ms(r.rawP99), `${p50.toFixed(2)}×`, `${p99.toFixed(2)}×`, p50 <= LATENCY_TARGET ? 'met' : '**missed**', r.rawWhat]],
    ),
    '',
  ];
}

export function failoverLines(rows: Array<[string, FailoverRow | undefined]>, trials: number, ttlS: number): string[] {
  const measured = rows.filter((x): x is [string, FailoverRow] => x[1] !== undefined);
  if (measured.length === 0) return [];
  return [
    `### Failover (ms, ${trials} trials each, TTL ${ttlS} s, two replicas live at every kill; signal → the next replica logs \`became leader\`)`,
    '',
    markdownTable(
      ['when', 'crash p50', 'crash max', 'crash p50 / TTL', 'crash max − TTL', 'crash samples', 'SIGTERM handoff p50', 'handoff max', 'handoff samples'],
      measured.map(([when, r]) => [
        when,
        ms(percentile(r.crash, 50)),
        ms(Math.max(...r.crash)),
        `${(percentile(r.crash, 50) / r.ttlMs).toFixed(2)}×`,
        ms(Math.max(...r.crash) - r.ttlMs),
        r.crash.map(ms).join(', '),
        ms(percentile(r.handoff, 50)),
        ms(Math.max(...r.handoff)),
        r.handoff.map(ms).join(', '),
      ]),
    ),
    '',
  ];
}

function burstLines(r: BurstRow, s: ScaleSettings): string[] {
  return [
    `### Burst (ms; ${s.burstJobs} identical jobs due in the same second, ${s.bursts} slots ${s.periodS} s apart, TTL ${s.ttlS} s; baseline: ${s.burstJobs} bare spawns of the same shell line right after each; target ≤ 1.3× in every burst)`,
    '',
    burstTable(s, [r]),
    '',
    '### Renewals during the bursts (ms; lateness: acknowledged − due, due = previous send + interval; send = acknowledged − round trip)',
    '',
    renewalTable([r]),
    '',
  ];
}
