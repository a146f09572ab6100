import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { RunRecord } from '../../src/scheduler/records.js';
import { waitForLedger } from './ledger.js';
import { LockdCluster, type ClusterOptions, type ProcessBackendTarget } from './lockd-cluster.js';
import { runLockd } from './lockd-process.js';
import { waitFor } from './wait-for.js';

/** Three replicas running the `ledger` job, its ledger file, and a config to read the backend with. */
export interface LedgerRun {
  cluster: LockdCluster;
  ledger: string;
  config: string;
}

/**
 * Replicas a, b, c on `target` running one job, `ledger`, on `schedule`, with `jobExtra` (YAML
 * lines of the job, indented 4) and `extraYamlFor` (top-level YAML of one replica); resolves once one leads and the ledger has two lines. Each run
 * appends `$LOCKD_SCHEDULED_AT $LOCKD_FENCING_TOKEN $LOCKD_NODE <start ms>`: the slot, token and
 * node for the ledger's invariants, the child's start time for start delays (`ledgerStarts`).
 */
export async function startLedgerReplicas(
  target: ProcessBackendTarget,
  opts: { ttlMs: number; schedule: string; jobExtra?: string; extraYamlFor?: ClusterOptions['extraYamlFor'] },
): Promise<LedgerRun> {
  const cluster = new LockdCluster(target, { ttl: `${opts.ttlMs / 1000}s`, ...(opts.extraYamlFor && { extraYamlFor: opts.extraYamlFor }) });
  const ledger = cluster.file('ledger');
  const command = `echo "$LOCKD_SCHEDULED_AT $LOCKD_FENCING_TOKEN $LOCKD_NODE $(date +%s%3N)" >> '${ledger}'`;
  const job = ['  ledger:', `    schedule: "${opts.schedule}"`, `    run: ${JSON.stringify(command)}`, ...(opts.jobExtra ? [`    ${opts.jobExtra}`] : [])].join('\n');
  try {
    for (const node of ['a', 'b', 'c']) cluster.start(node, job);
    await cluster.nextLeader(20_000);
    await waitForLedger(ledger, (e) => e.length >= 2, 15_000);
    return { cluster, ledger, config: cluster.file('a.yaml') };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** Every run record of the ledger job (`lockd history --json`). */
export async function ledgerHistory(run: LedgerRun): Promise<RunRecord[]> {
  const res = await runLockd(['history', 'ledger', '--json', '-n', '1000', '-c', run.config]);
  assert.equal(res.code, 0, `lockd history failed: ${res.stderr}`);
  return JSON.parse(res.stdout) as RunRecord[];
}

/** Slot, child start time (epoch ms) and start delay of every ledger line. */
export function ledgerStarts(file: string): Array<{ slot: number; startedAt: number; delayMs: number }> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [at, , , started] = l.trim().split(/\s+/);
      const slot = Date.parse(at ?? '');
      return { slot, startedAt: Number(started), delayMs: Number(started) - slot };
    });
}

/**
 * Waits until 150 ms before the next whole second: a fault struck then meets that slot's writes
 * (and, for a server's leader, the election that follows) rather than the quiet end of a second.
 */
export async function justBeforeASlot(): Promise<void> {
  await waitFor('150 ms before a slot', () => Date.now() % 1000 >= 850, 2000, 5);
}
