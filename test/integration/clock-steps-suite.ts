import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { RunRecord } from '../../src/scheduler/records.js';
import { assertLedgerInvariants, ledgerJobCommand, readLedger, waitForLedger } from '../helpers/ledger.js';
import { LockdCluster, type ProcessBackendTarget } from '../helpers/lockd-cluster.js';
import { pollLockdJson, runLockd, type LockdProcess } from '../helpers/lockd-process.js';
import { freePort } from '../helpers/ports.js';
import { requireBinary } from '../helpers/require-binary.js';
import { assertSlotsAccounted } from '../helpers/slot-accounting.js';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const TTL_S = 3;

/**
 * Wall-clock steps with libfaketime (Debian `faketime`; CLOCK_MONOTONIC left alone) on the leader
 * of three real replicas, each with its own offset file that the test rewrites to step its clock:
 * −15 s on the first leader (then back), +1 h on the next (then back). A leader whose clock most
 * candidates disagree with resigns without naming slots from it; through it all no slot runs twice,
 * tokens increase in slot order, every slot of the window ran or has a record with a reason, and
 * the steps show in `lockd_clock_step_seconds_total` and in `lockd status`.
 */
export function clockStepSuite(target: ProcessBackendTarget): void {
  describe(`wall-clock steps on the leader (libfaketime): ${target.name}`, { timeout: 180_000 }, () => {
    before(() => target.setup());
    after(() => target.teardown());

    it('−15 s, +1 h, then back: stepped leaders resign, no slot twice, tokens in slot order, every slot accounted for, totals match the records', async () => {
      requireBinary(LIBFAKETIME, 'faketime', 'load');
      const ports = new Map<string, number>();
      for (const node of ['a', 'b', 'c']) ports.set(node, await freePort());
      const cluster = new LockdCluster(target, { ttl: `${TTL_S}s`, extraYamlFor: (node) => `http:\n  listen: 127.0.0.1:${ports.get(node)}` });
      const ledger = cluster.file('ledger');
      const offsetFile = (node: string): string => cluster.file(`clock-${node}`);
      const step = (node: string, offset: string): void => writeFileSync(offsetFile(node), `${offset}\n`);
      const job = ['  ledger:', '    schedule: "* * * * * *"', `    run: ${JSON.stringify(ledgerJobCommand(ledger))}`, '    deadline: 30s'].join('\n');
      const start = (node: string): LockdProcess => {
        step(node, '+0');
        return cluster.start(node, job, {
          LD_PRELOAD: LIBFAKETIME,
          FAKETIME_TIMESTAMP_FILE: offsetFile(node),
          FAKETIME_CACHE_DURATION: '1',
          FAKETIME_DONT_FAKE_MONOTONIC: '1',
        });
      };
      try {
        const a = start('a');
        await a.waitForLeadership(20_000);
        start('b');
        start('c');
        await waitForLedger(ledger, (e) => e.length >= 3, 15_000);
        const firstWall = Date.now();

        // −15 s on the leader: most candidates disagree with its clock, so it resigns; then back.
        let mark = a.logs.length;
        step('a', '-15');
        await a.waitForLog((l) => l.msg.startsWith('resigned leadership'), 20_000, mark);
        const second = await cluster.nextLeader(20_000, a);
        await waitForLedger(ledger, (e) => e.some((x) => x.node === second.replica.name), 15_000);
        step('a', '+0');
        // The next step comes once every clock reads right again, as the replicas publish them.
        await pollLockdJson<{ clocks: Array<{ node: string; offsetMs: number }> }>(
          ['status', '--json', '-c', cluster.file('a.yaml')],
          (s) => s.clocks.length === 3 && s.clocks.every((c) => Math.abs(c.offsetMs) < 2000),
          20_000,
        );

        // +1 h on the next leader: it resigns before handling any slot of the hour it jumped over.
        mark = second.replica.logs.length;
        step(second.replica.name, '+3600');
        await second.replica.waitForLog((l) => l.msg.startsWith('resigned leadership'), 20_000, mark);
        const third = await cluster.nextLeader(20_000, second.replica);
        const thirdLed = Date.now();
        await waitForLedger(ledger, (e) => e.filter((x) => x.node === third.replica.name && x.slot > thirdLed).length >= 2, 15_000);

        const status = await runLockd(['status', '--json', '-c', cluster.file(`${third.replica.name}.yaml`)]);
        assert.equal(status.code, 0, status.stderr);
        const clocks = (JSON.parse(status.stdout) as { clocks: Array<{ node: string; offsetMs: number }> }).clocks;
        const ahead = clocks.find((c) => c.node === second.replica.name);
        assert.ok(ahead !== undefined && ahead.offsetMs > 3_590_000, `status shows the +1 h clock: ${JSON.stringify(clocks)}`);
        const metrics = await (await fetch(`http://127.0.0.1:${ports.get(second.replica.name)}/metrics`)).text();
        const forward = Number(/^lockd_clock_step_seconds_total\{direction="forward"\} (\S+)$/m.exec(metrics)?.[1] ?? 0);
        assert.ok(forward >= 3590, `lockd_clock_step_seconds_total{direction="forward"} = ${forward}`);

        // Back; the job goes on.
        step(second.replica.name, '+0');
        const backAt = Date.now();
        await waitForLedger(ledger, (e) => e.filter((x) => x.slot > backAt + 2000).length >= 3, 20_000);

        const entries = readLedger(ledger);
        assertLedgerInvariants(entries);
        const nowWall = Date.now();
        assert.deepEqual(entries.filter((e) => e.slot > nowWall + 1000), [], 'a slot was named from a clock ahead of time');
        const config = cluster.file(`${third.replica.name}.yaml`);
        const totals = (JSON.parse((await runLockd(['status', '--json', '-c', config])).stdout) as { jobs: Array<{ missedTotal: number; skippedTotal: number }> }).jobs[0]!;
        const history = await runLockd(['history', 'ledger', '-n', '1000', '--json', '-c', config]);
        assert.equal(history.code, 0, history.stderr);
        const slots = entries.map((e) => e.slot).filter((s) => s >= firstWall - 1000).sort((x, y) => x - y);
        assertSlotsAccounted({ schedule: '* * * * * *', ledger: entries, records: JSON.parse(history.stdout) as RunRecord[], from: slots[0]!, to: slots.at(-1)!, totals });
      } finally {
        await cluster.stop();
      }
    });
  });
}
