import { FaultProxy } from '../test/helpers/fault-proxy.js';
import { freezeOutsideLocks } from '../test/helpers/freeze.js';
import { readStubbornRuns, stubbornJobCommand } from '../test/helpers/ledger.js';
import { LockdCluster } from '../test/helpers/lockd-cluster.js';
import { processAlive } from '../test/helpers/process-alive.js';
import { waitFor } from '../test/helpers/wait-for.js';

/** How lockd's leader loses its lease in a trial. */
export type KillFault = 'sigkill' | 'sigstop' | 'blackhole';

export interface KillMarginRow {
  backend: string;
  fault: KillFault;
  ttlMs: number;
  /** Old child's death → another replica leads (ms; positive = the child was gone first). */
  margin: number[];
  /** Self-fencing (the loss logged; for SIGKILL/SIGSTOP the fault itself) → the old child dead (ms). */
  fenceToKill: number[];
}

/** A backend for the kill-margin trials: its servers (for a proxy per replica) and its YAML. */
export interface KillMarginTarget {
  name: string;
  servers?: () => { host: string; port: number }[];
  backendYaml(dir: string, endpoints: string[]): string;
  blocksOthersWhileFrozen?(pid: number, dir: string): boolean;
}

const LOSS_LOGS = new Set(['etcd session lost', 'session lost', 'zookeeper session lost']);

/**
 * The kill margin of DESIGN §1.4, `trials` times: two replicas, a job that ignores SIGTERM; the
 * leader loses its lease by `fault`; measured from the old job's death (its pid polled every 2 ms)
 * to the moment the other replica logs 'became leader', and from self-fencing to that death.
 * The new leader's time includes its detection latency (embedded polls every 40 ms; etcd and
 * ZooKeeper watch), so the true margin to "could lead" is at most that much smaller.
 */
export async function killMargin(target: KillMarginTarget, fault: KillFault, ttlS: number, trials: number): Promise<KillMarginRow> {
  const row: KillMarginRow = { backend: target.name, fault, ttlMs: ttlS * 1000, margin: [], fenceToKill: [] };
  for (let trial = 0; trial < trials; trial++) {
    const proxies = new Map<string, FaultProxy[]>();
    for (const node of ['a', 'b']) proxies.set(node, await Promise.all((target.servers?.() ?? []).map((s) => FaultProxy.start(s))));
    const cluster = new LockdCluster(
      {
        name: target.name,
        setup: async () => undefined,
        teardown: async () => undefined,
        backendYaml: (dir, node) => target.backendYaml(dir, (proxies.get(node) ?? []).map((p) => p.endpoint)),
      },
      { ttl: `${ttlS}s`, shutdownGrace: '1s' },
    );
    const ledger = cluster.file('ledger');
    const job = ['  work:', '    schedule: "* * * * * *"', `    run: ${JSON.stringify(stubbornJobCommand(ledger, { maxSeconds: 30 }))}`].join('\n');
    try {
      for (const node of ['a', 'b']) cluster.start(node, job);
      const { replica: leader } = await cluster.nextLeader(20_000);
      await waitFor('the job to start on the leader', () => readStubbornRuns(ledger).some((r) => r.node === leader.name), 15_000);
      const old = readStubbornRuns(ledger).find((r) => r.node === leader.name)!;
      const mark = leader.logs.length;
      const next = cluster.nextLeader(3 * ttlS * 1000 + 15_000, leader);
      let fenceAt = performance.now();
      if (fault === 'sigkill') leader.signal('SIGKILL');
      else if (fault === 'sigstop') fenceAt = (await freezeOutsideLocks(leader.child, (pid) => target.blocksOthersWhileFrozen?.(pid, cluster.dir) ?? false)).at;
      else proxies.get(leader.name)!.forEach((p) => p.setMode('blackhole'));
      const deathAt = await deathOf(old.pid);
      const { at: ledAt } = await next;
      if (fault === 'blackhole') {
        const loss = leader.logs.slice(mark).find((l) => LOSS_LOGS.has(l.msg));
        if (loss !== undefined) fenceAt = loss.seenAt;
      }
      row.margin.push(ledAt - deathAt);
      row.fenceToKill.push(deathAt - fenceAt);
      if (fault === 'sigstop') leader.signal('SIGCONT');
    } finally {
      await cluster.stop();
      await Promise.all([...proxies.values()].flat().map((p) => p.close()));
    }
  }
  return row;
}

/** performance.now() when process `pid` is no longer running (zombies count as dead). */
async function deathOf(pid: number): Promise<number> {
  await waitFor(`process ${pid} to die`, () => !processAlive(pid), 60_000, 2);
  return performance.now();
}
