import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { LockdCluster, type ProcessBackendTarget } from '../test/helpers/lockd-cluster.js';
import { readLedger, waitForLedger } from '../test/helpers/ledger.js';
import type { LockdProcess } from '../test/helpers/lockd-process.js';
import { percentile } from './stats.js';

export interface FailoverRow {
  backend: string;
  ttlMs: number;
  crash: number[];
  handoff: number[];
}

/**
 * Crash failover (SIGKILL of the leader → another replica logs 'became leader') and graceful
 * handoff (SIGTERM → the same), `trials` times each, with two live replicas at every kill. Each
 * kill waits until the leader has logged 'scheduling started' since it became leader, so that it
 * really leads. The replacement of a killed replica takes its node name: a dead replica's
 * `clocks/<node>` entry counts as a running peer for 10 s after a reader first sees it
 * (src/clock-peers.ts), so leftovers of every earlier trial would outvote a freshly started
 * leader's clock and make it resign. `settleMs`: how long each kill waits, in addition, after the
 * other replica logged 'lockd started' (default 0: at once, so that replica is fresh).
 */
export async function failover(target: ProcessBackendTarget, ttlS: number, trials: number, settleMs = 0): Promise<FailoverRow> {
  const cluster = new LockdCluster(target, { ttl: `${ttlS}s` });
  const row: FailoverRow = { backend: target.name, ttlMs: ttlS * 1000, crash: [], handoff: [] };
  let serial = 0;
  const live: LockdProcess[] = [];
  const startReplica = (node = `n${serial++}`): void => void live.push(cluster.start(node, '  {}'));
  try {
    startReplica();
    startReplica();
    let { replica: leader } = await cluster.nextLeader(30_000);
    for (let i = 0; i < 2 * trials; i++) {
      const crash = i % 2 === 0;
      const others = live.filter((r) => r !== leader);
      const started = await Promise.all(others.map((r) => r.waitForLog((l) => l.msg === 'lockd started', 30_000)));
      await delay(Math.max(0, ...started.map((l) => l.seenAt + settleMs - performance.now())));
      const becameAt = leader.logs.findLastIndex((l) => l.msg === 'became leader');
      await leader.waitForLog((l) => l.msg === 'scheduling started', 30_000, becameAt + 1);
      if (!leader.isLeaderNow()) throw new Error(`${leader.name} stopped leading before the kill`);
      const at = performance.now();
      leader.signal(crash ? 'SIGKILL' : 'SIGTERM');
      const next = await cluster.nextLeader(ttlS * 1000 + 15_000, leader);
      (crash ? row.crash : row.handoff).push(next.at - at);
      await leader.exited;
      live.splice(live.indexOf(leader), 1);
      startReplica(leader.name);
      leader = next.replica;
    }
  } finally {
    await cluster.stop();
  }
  return row;
}

/**
 * Start delay: slot → the job's shell running (`date +%s%N` inside the child), against a bare
 * `child_process.spawn` of the same shell line (spawn call → `date` inside the child).
 */
export async function startDelay(target: ProcessBackendTarget, samples: number): Promise<{ lockdP50: number; lockdP99: number; spawnP50: number; spawnP99: number }> {
  const cluster = new LockdCluster(target, { ttl: '5s' });
  const ledger = cluster.file('delay');
  try {
    const job = ['  delay:', '    schedule: "* * * * * *"', `    run: 'echo "$LOCKD_SCHEDULED_AT $(date +%s%N) x" >> ${ledger}'`].join('\n');
    cluster.start('solo', job);
    await waitForLedger(ledger, (e) => e.length >= samples + 2, (samples + 20) * 1000);
    const delays = readLedger(ledger)
      .slice(2)
      .map((e) => Number(e.token) / 1e6 - e.slot);
    const bare: number[] = [];
    for (let i = 0; i < Math.max(samples, 50); i++) {
      const t0 = performance.timeOrigin + performance.now();
      const child = spawn('/bin/sh', ['-c', 'date +%s%N'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await once(child, 'close');
      bare.push(Number(out.trim()) / 1e6 - t0);
    }
    return { lockdP50: percentile(delays, 50), lockdP99: percentile(delays, 99), spawnP50: percentile(bare, 50), spawnP99: percentile(bare, 99) };
  } finally {
    await cluster.stop();
  }
}
