import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { freezeOutsideLocks } from '../helpers/freeze.js';
import { assertRunsNeverOverlap, readStubbornRuns, stubbornJobCommand, type StubbornRun } from '../helpers/ledger.js';
import { LockdCluster } from '../helpers/lockd-cluster.js';
import { runLockd, type LockdProcess } from '../helpers/lockd-process.js';
import { assertSlotsAccounted } from '../helpers/slot-accounting.js';
import type { RunRecord } from '../../src/scheduler/records.js';
import { waitFor } from '../helpers/wait-for.js';

const TTL_S = 3;
const TTL_MS = TTL_S * 1000;

/** A backend for the kill-rule suite; `servers` is absent where there is no network path to fault. */
export interface FenceTarget {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** The backend's servers; each replica reaches each of them through its own FaultProxy. */
  servers?(): { host: string; port: number }[];
  /** The `backend:` section for a config in `dir` whose replica uses these `host:port` endpoints. */
  backendYaml(dir: string, endpoints: string[]): string;
  blocksOthersWhileFrozen?(pid: number, dir: string): boolean;
}

interface Fault {
  name: string;
  network?: boolean;
  /** The leader's job prints heavily (for faults of its stdout). */
  noisy?: boolean;
  /** Whether another replica takes over: every fault but the stdout stall, which lockd must ride out. */
  takeover: boolean;
  apply(ctx: FaultContext): Promise<void>;
  heal(ctx: FaultContext): Promise<void>;
}

interface FaultContext {
  leader: LockdProcess;
  proxies: FaultProxy[];
  cluster: LockdCluster;
  target: FenceTarget;
}

const faults: Fault[] = [
  {
    name: "blackhole of the leader's path to the backend (connections stay open, nothing crosses)",
    network: true,
    takeover: true,
    apply: async ({ proxies }) => proxies.forEach((p) => p.setMode('blackhole')),
    heal: async ({ proxies }) => proxies.forEach((p) => p.setMode('pass')),
  },
  {
    name: "reset of every connection on the leader's path to the backend",
    network: true,
    takeover: true,
    apply: async ({ proxies }) => proxies.forEach((p) => p.setMode('reset')),
    heal: async ({ proxies }) => proxies.forEach((p) => p.setMode('pass')),
  },
  {
    name: 'SIGKILL of the lockd process alone (its job keeps running)',
    takeover: true,
    apply: async ({ leader }) => leader.signal('SIGKILL'),
    heal: async () => undefined,
  },
  {
    name: 'SIGSTOP of the lockd process alone for 3×TTL',
    takeover: true,
    apply: async ({ leader, target, cluster }) => {
      await freezeOutsideLocks(leader.child, (pid) => target.blocksOthersWhileFrozen?.(pid, cluster.dir) ?? false);
    },
    heal: async ({ leader }) => leader.signal('SIGCONT'),
  },
  {
    name: 'a stalled stdout pipe while the job prints (lockd must stay leader and keep its lease)',
    noisy: true,
    takeover: false,
    apply: async ({ leader }) => leader.stallStdout(),
    heal: async ({ leader }) => leader.resumeStdout(),
  },
];

/**
 * DESIGN §1.4, "no process of a run is alive at the moment another holder could be granted its
 * lock or the leadership", tried the way production breaks it: three real `lockd run` replicas, a
 * job every 2 s that ignores SIGTERM and writes an `alive` line with its token every 100 ms,
 * `kill_grace` at its 5 s default; then a fault on the leader. The ledger must show the old run's
 * last heartbeat before the first start of the job by another replica, no slot twice, tokens
 * increasing in slot order, every slot in the window run or recorded with a reason, and the job
 * running again.
 */
export function fenceSuite(target: FenceTarget): void {
  describe(`no run outlives its lease, whatever happens to the leader: ${target.name}`, { timeout: 600_000 }, () => {
    before(() => target.setup());
    after(() => target.teardown());

    for (const fault of faults) {
      if (fault.network === true && target.servers === undefined) continue;
      it(fault.name, async () => {
        const proxies = new Map<string, FaultProxy[]>();
        const servers = target.servers?.() ?? [];
        for (const node of ['a', 'b', 'c']) proxies.set(node, await Promise.all(servers.map((s) => FaultProxy.start(s))));
        const cluster = new LockdCluster(
          {
            name: target.name,
            setup: async () => undefined,
            teardown: async () => undefined,
            backendYaml: (dir, node) => target.backendYaml(dir, (proxies.get(node) ?? []).map((p) => p.endpoint)),
            ...(target.blocksOthersWhileFrozen ? { blocksOthersWhileFrozen: target.blocksOthersWhileFrozen } : {}),
          },
          { ttl: `${TTL_S}s`, shutdownGrace: '1s' },
        );
        const ledger = cluster.file('ledger');
        const jobs = (noisy: boolean): string =>
          ['  work:', '    schedule: "*/2 * * * * *"', `    run: ${JSON.stringify(stubbornJobCommand(ledger, { noisy }))}`, '    deadline: 30s'].join('\n');
        try {
          for (const node of ['a', 'b', 'c']) cluster.start(node, jobs(fault.noisy === true));
          const { replica: leader } = await cluster.nextLeader(20_000);
          await waitFor('the leader to start the job', () => readStubbornRuns(ledger).some((r) => r.node === leader.name), 15_000);
          const ctx: FaultContext = { leader, proxies: proxies.get(leader.name) ?? [], cluster, target };
          const faultAt = performance.now();
          await fault.apply(ctx);
          const byOther = (runs: StubbornRun[]): StubbornRun | undefined => runs.find((r) => r.node !== leader.name);
          if (fault.takeover) {
            await waitFor('another replica to start the job', () => byOther(readStubbornRuns(ledger)) !== undefined, 3 * TTL_MS + 15_000);
            const taken = byOther(readStubbornRuns(ledger))!;
            await waitFor('3×TTL since the fault', () => performance.now() - faultAt >= 3 * TTL_MS, 4 * TTL_MS);
            await fault.heal(ctx);
            // The new run keeps going after the heal: the cluster keeps running the job.
            const seen = taken.lastAliveNs;
            await waitFor('the new run to go on after the heal', () => readStubbornRuns(ledger).some((r) => r.token === taken.token && r.lastAliveNs > seen + 500_000_000n), 10_000);
          } else {
            await waitFor('3×TTL of the fault', () => performance.now() - faultAt >= 3 * TTL_MS, 4 * TTL_MS);
            const during = readStubbornRuns(ledger);
            await fault.heal(ctx);
            assert.equal(byOther(during), undefined, 'another replica started the job while the leader was only slow to log');
            await leader.waitForLog((l) => l.msg === 'run started', 10_000, 0);
            assert.ok(leader.isLeaderNow(), 'the leader kept its lease');
          }
          const runs = readStubbornRuns(ledger);
          process.stdout.write(`# ${target.name}: ${fault.name}: runs ${runs.map((r) => `${r.node}/${r.token}`).join(' ')}\n`);
          assertRunsNeverOverlap(runs);
          const reader = cluster.replicas.find((r) => r.isLeaderNow() && r.child.exitCode === null) ?? leader;
          const history = await runLockd(['history', 'work', '-n', '1000', '--json', '-c', cluster.file(`${reader.name}.yaml`)]);
          assert.equal(history.code, 0, history.stderr);
          assertSlotsAccounted({ schedule: '*/2 * * * * *', ledger: runs, records: JSON.parse(history.stdout) as RunRecord[], from: runs[0]!.slot, to: runs.at(-1)!.slot });
        } finally {
          await cluster.stop();
          await Promise.all([...proxies.values()].flat().map((p) => p.close()));
        }
      });
    }
  });
}
