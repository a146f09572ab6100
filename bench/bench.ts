import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../test/helpers/etcd-server.js';
import { startZooKeeper } from '../test/helpers/zookeeper-server.js';
import type { ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import { lockLatency, rawEtcd, rawSqlite, rawZooKeeper, type LatencyRow } from './lock-latency.js';
import { failover, startDelay, type FailoverRow } from './failover.js';
import { killMargin, type KillMarginRow, type KillMarginTarget } from './kill-margin.js';
import { holdsSqliteWriteLock } from '../test/helpers/freeze.js';
import { markdownTable, ms, percentile } from './stats.js';
import { scale, scaleSettings } from './scale.js';
import { postgresSection } from './postgres.js';
import { redisSection } from './redis.js';

/**
 * `npm run bench`: every figure is a ratio against a baseline measured in the same run on the same
 * machine (raw backend operation, bare spawn), since these machines are shared and noisy.
 */
const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
/** What the benchmark is doing, on stderr, so a long run shows where it is (and where it failed). */
const progress = (what: string): void => void process.stderr.write(`# bench: ${what}\n`);
/**
 * `npm run bench -- scale` or `BENCH_ONLY=scale`: only that section, reported alone in
 * bench/results/<section>.md; without one, every section, in bench/results/latest.md.
 */
const only = process.argv[2] ?? process.env.BENCH_ONLY;
const SECTIONS = ['latency', 'failover', 'start-delay', 'kill-margin', 'scale', 'postgres', 'redis'];
if (only !== undefined && !SECTIONS.includes(only)) throw new Error(`no bench section "${only}"; the sections: ${SECTIONS.join(', ')}`);
const wanted = (section: string): boolean => only === undefined || only === section;
const TTL_S = 3;

/** The etcd and ZooKeeper servers serve every section but `postgres` and `redis`, which start their own servers. */
const needsEtcdAndZk = SECTIONS.some((section) => section !== 'postgres' && section !== 'redis' && wanted(section));
const etcd = needsEtcdAndZk ? await startEtcd() : undefined;
const zk = needsEtcdAndZk ? await startZooKeeper() : undefined;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'lockd-bench-'));
const targets: ProcessBackendTarget[] = [
  { name: 'embedded', setup: async () => undefined, teardown: async () => undefined, backendYaml: (dir) => `  type: embedded\n  path: ${path.join(dir, 'lockd.db')}` },
  { name: 'etcd', setup: async () => undefined, teardown: async () => undefined, backendYaml: () => `  type: etcd\n  endpoints: [${etcd!.endpoint}]` },
  { name: 'zookeeper', setup: async () => undefined, teardown: async () => undefined, backendYaml: () => `  type: zookeeper\n  connect: ${zk!.connect}` },
];
try {
  const latency: LatencyRow[] = wanted('latency')
    ? [
        await lockLatency('embedded', { type: 'embedded', path: path.join(scratch, 'latency.db') }, () => rawSqlite(path.join(scratch, 'raw.db'))),
        await lockLatency('etcd', { type: 'etcd', endpoints: [etcd!.endpoint] }, () => rawEtcd(etcd!.endpoint)),
        await lockLatency('zookeeper', { type: 'zookeeper', connect: zk!.connect }, () => rawZooKeeper(zk!.connect)),
      ]
    : [];
  const failovers: FailoverRow[] = [];
  for (const target of wanted('failover') ? targets : []) {
    progress(`failover ${target.name}`);
    failovers.push(await failover(target, TTL_S, TRIALS));
  }
  const delay = wanted('start-delay') ? await startDelay(targets[0]!, 20) : { lockdP50: NaN, lockdP99: NaN, spawnP50: NaN, spawnP99: NaN };
  const hostPort = (text: string): { host: string; port: number } => {
    const [host, port] = text.replace('http://', '').split(':');
    return { host: host!, port: Number(port) };
  };
  const killTargets: KillMarginTarget[] = [
    {
      name: 'embedded',
      backendYaml: (dir) => `  type: embedded\n  path: ${path.join(dir, 'lockd.db')}`,
      blocksOthersWhileFrozen: (pid, dir) => holdsSqliteWriteLock(pid, path.join(dir, 'lockd.db')),
    },
    { name: 'etcd', servers: () => [hostPort(etcd!.endpoint)], backendYaml: (_dir, eps) => `  type: etcd\n  endpoints: [${eps.map((e) => `http://${e}`).join(', ')}]` },
    { name: 'zookeeper', servers: () => [hostPort(zk!.connect)], backendYaml: (_dir, eps) => `  type: zookeeper\n  connect: ${eps.join(',')}` },
  ];
  const margins: KillMarginRow[] = [];
  for (const target of wanted('kill-margin') ? killTargets : []) {
    for (const fault of ['sigkill', 'sigstop', ...(target.servers ? (['blackhole'] as const) : [])] as const) {
      progress(`kill margin ${target.name} ${fault}`);
      margins.push(await killMargin(target, fault, TTL_S, TRIALS));
    }
  }
  const scaleSection = wanted('scale') ? await scale(targets, scaleSettings(), progress) : undefined;
  const postgres = wanted('postgres') ? await postgresSection({ ttlS: TTL_S, trials: TRIALS, scale: scaleSettings(), progress }) : [];
  const redis = wanted('redis') ? await redisSection({ ttlS: TTL_S, trials: TRIALS, scale: scaleSettings(), progress }) : [];
  const sections: Array<[string, () => string[]]> = [
    [
      'latency',
      () => [
        '## Lock acquire + release (ms, 400 samples after 40 warm-up)',
        '',
        markdownTable(
          ['backend', 'lockd p50', 'lockd p99', 'raw p50', 'raw p99', 'p50 ratio', 'baseline'],
          latency.map((r) => [r.backend, ms(r.lockdP50), ms(r.lockdP99), ms(r.rawP50), ms(r.rawP99), `${(r.lockdP50 / r.rawP50).toFixed(2)}×`, r.rawWhat]),
        ),
      ],
    ],
    [
      'failover',
      () => [
        `## Failover (ms, ${TRIALS} trials each, TTL ${TTL_S} s, two replicas live at every kill)`,
        '',
        markdownTable(
          ['backend', 'crash p50', 'crash max', 'crash max − TTL', 'SIGTERM handoff p50', 'handoff max'],
          failovers.map((r) => [
            r.backend,
            ms(percentile(r.crash, 50)),
            ms(Math.max(...r.crash)),
            ms(Math.max(...r.crash) - r.ttlMs),
            ms(percentile(r.handoff, 50)),
            ms(Math.max(...r.handoff)),
          ]),
        ),
      ],
    ],
    [
      'kill-margin',
      () => [
        `## Kill margin (ms, ${TRIALS} trials each, TTL ${TTL_S} s, a job that ignores SIGTERM, kill_grace 5 s)`,
        '',
        'Margin: the old job\'s death → another replica leads (positive = the old job was gone first; includes the',
        'follower\'s detection latency). Fence → kill: the leader\'s self-fencing (its loss logged; for SIGKILL and SIGSTOP',
        'of lockd, the fault) → the old job dead.',
        '',
        markdownTable(
          ['backend', 'fault', 'margin p50', 'margin min', 'fence → kill p50', 'fence → kill max'],
          margins.map((r) => [r.backend, r.fault, ms(percentile(r.margin, 50)), ms(Math.min(...r.margin)), ms(percentile(r.fenceToKill, 50)), ms(Math.max(...r.fenceToKill))]),
        ),
      ],
    ],
    [
      'start-delay',
      () => [
        '## Job start delay (ms; slot → job shell running, vs bare spawn → shell running)',
        '',
        markdownTable(
          ['what', 'p50', 'p99'],
          [
            ['lockd (embedded), 20 slots', ms(delay.lockdP50), ms(delay.lockdP99)],
            ['bare child_process.spawn', ms(delay.spawnP50), ms(delay.spawnP99)],
            ['difference', ms(delay.lockdP50 - delay.spawnP50), ms(delay.lockdP99 - delay.spawnP99)],
          ],
        ),
      ],
    ],
    ['scale', () => [scaleSection ?? '']],
    ['postgres', () => postgres],
    ['redis', () => redis],
  ];
  const report = [
    `# lockd benchmarks (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version})`,
    '',
    ...sections.filter(([name]) => wanted(name)).flatMap(([, lines]) => [...lines(), '']),
  ].join('\n');
  process.stdout.write(report);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/${only ?? 'latest'}.md`, report);
} finally {
  await Promise.all([etcd?.stop(), zk?.stop()]);
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(0);
