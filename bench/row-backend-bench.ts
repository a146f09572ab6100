import type { ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import { failover, type FailoverRow } from './failover.js';
import type { LatencyRow } from './lock-latency.js';
import { markdownTable, ms, percentile } from './stats.js';

/**
 * What the sections of the backends on the row core (bench/postgres.ts, bench/redis.ts) share:
 * measurements that may fail without stopping the others, failover measured twice (a follower
 * that just started and one that has watched for longer than the TTL), and their tables.
 */

/** The lock latency target of the row backends: lockd's p50 within this of the raw pair's. */
const LATENCY_TARGET = 1.5;

/** Runs measurements one by one; a failed one is remembered for `failureLines` and yields undefined. */
export class Measurements {
  private readonly failures: string[] = [];

  constructor(private readonly progress: (what: string) => void) {}

  async attempt<T>(what: string, measure: () => Promise<T>): Promise<T | undefined> {
    this.progress(what);
    try {
      return await measure();
    } catch (err) {
      this.failures.push(`${what}: ${String(err).split('\n')[0]}`);
      this.progress(`${what} failed: ${String(err)}`);
      return undefined;
    }
  }

  /** "Not measured" with each failure, or nothing. */
  failureLines(): string[] {
    return this.failures.length === 0 ? [] : ['### Not measured (the measurement failed)', '', ...this.failures.map((f) => `- ${f}`), ''];
  }
}

/**
 * Crash failover and SIGTERM handoff of `lockd run` replicas of `target`, twice: killed as soon as
 * the other replica started, and with the other replica up for TTL + 1 s (the reaper of a replica
 * that just started must watch a session for a full TTL first). Returns the table's lines.
 */
export async function failoverTwice(m: Measurements, target: ProcessBackendTarget, ttlS: number, trials: number): Promise<string[]> {
  const fresh = await m.attempt(`${target.name} failover, fresh follower (${trials} trials each)`, () => failover(target, ttlS, trials));
  const settledMs = ttlS * 1000 + 1000;
  const settled = await m.attempt(`${target.name} failover, follower up ${settledMs} ms (${trials} trials each)`, () => failover(target, ttlS, trials, settledMs));
  return failoverLines(
    [
      ['killed as soon as the other replica logged `lockd started`', fresh],
      [`the other replica up ${settledMs} ms (≥ TTL + 1 s) before the kill`, settled],
    ],
    trials,
    ttlS,
  );
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

function failoverLines(rows: Array<[string, FailoverRow | undefined]>, trials: number, ttlS: number): string[] {
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
