import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { LockdCluster, type ProcessBackendTarget } from '../helpers/lockd-cluster.js';
import { ledgerJobCommand, readLedger } from '../helpers/ledger.js';
import { LockdProcess, pollLockdJson, runLockd } from '../helpers/lockd-process.js';
import { processAlive } from '../helpers/process-alive.js';
import { waitFor } from '../helpers/wait-for.js';
import { freezeOutsideLocks } from '../helpers/freeze.js';

/** A backend for the operator commands, plus a config that points at nothing listening. */
export interface OperationsTarget extends ProcessBackendTarget {
  /** A `backend:` section (indented 2) whose backend cannot be reached. */
  unreachableYaml(dir: string): string;
}

/**
 * `lockd trigger`, `resign`, `lock` and `status`, as an operator runs them, against real `lockd`
 * processes on one backend. Written once, run for every backend.
 */
export function operationsSuite(target: OperationsTarget): void {
  describe(`operator commands: ${target.name}`, { timeout: 180_000 }, () => {
    let cluster: LockdCluster;
    before(async () => {
      await target.setup();
      cluster = new LockdCluster(target, { ttl: '2s' });
    });
    after(async () => {
      await cluster.stop();
      await target.teardown();
    });

    it('status --json says leader null when nobody runs; trigger fails clearly with no leader', async () => {
      const config = cluster.writeConfig('nobody', manualJob(cluster.file('unused')));
      const status = await runLockd(['status', '--json', '-c', config]);
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { leader: unknown }).leader, null);
      const trigger = await runLockd(['trigger', 'manual', '-c', config]);
      assert.equal(trigger.code, 1);
      assert.match(trigger.stderr, /no leader/);
    });

    it('trigger runs the job once, even when issued twice at the same time', async () => {
      const ledger = cluster.file('manual-ledger');
      const a = cluster.start('trig-a', manualJob(ledger));
      await a.waitForLeadership(20_000);
      const config = cluster.file('trig-a.yaml');
      const [first, second] = await Promise.all([runLockd(['trigger', 'manual', '-c', config]), runLockd(['trigger', 'manual', '-c', config])]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(first.stdout, second.stdout, 'both requests were served by the same run');
      await a.waitForLog((l) => l.msg === 'run finished' && l.job === 'manual', 10_000);
      assert.equal(readLedger(ledger).length, 1);
      const history = await runLockd(['history', 'manual', '--json', '-c', config]);
      const records = JSON.parse(history.stdout) as Array<{ manual?: boolean; outcome: string; token?: string }>;
      assert.deepEqual(records.map((r) => [r.manual, r.outcome]), [[true, 'success']]);
      assert.equal(records[0]?.token, readLedger(ledger)[0]?.token.toString());
      await a.stop();
    });

    it('resign moves leadership to the other replica within 0.5 s', async () => {
      const a = cluster.start('res-a', '  {}');
      await a.waitForLeadership(20_000);
      const b = cluster.start('res-b', '  {}');
      await b.waitForLog((l) => l.msg === 'lockd started', 20_000);
      await pollLockdJson<{ candidates: unknown[] }>(['status', '--json', '-c', cluster.file('res-a.yaml')], (s) => s.candidates.length >= 2);
      const result = await runLockd(['resign', '-c', cluster.file('res-a.yaml')]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /leadership moved from res-a to res-b/);
      const resigned = await a.waitForLog((l) => l.msg === 'resign requested', 5_000);
      const took = (await b.waitForLeadership(5_000)).seenAt - resigned.seenAt;
      process.stdout.write(`# ${target.name}: resign handoff ${took.toFixed(0)} ms\n`);
      assert.ok(took <= 500, `handoff took ${took.toFixed(0)} ms`);
      await Promise.all([a.stop(), b.stop()]);
    });

    it('lock: excludes a second holder, passes increasing tokens, returns the exit code', async () => {
      const config = cluster.writeConfig('locker', '  {}');
      const held = cluster.file('held');
      const holder = new LockdProcess('holder', ['lock', 'nightly', '-c', config, '--', 'sh', '-c', `echo $LOCKD_FENCING_TOKEN > ${held}; sleep 30`]);
      await waitForFile(held, 10_000, holder);
      const second = await runLockd(['lock', 'nightly', '-c', config, '--', 'true']);
      assert.equal(second.code, 3, second.stderr);
      assert.match(second.stderr, /lock nightly is held/);
      holder.signal('SIGTERM');
      assert.equal((await holder.exited).code, 143);

      const t1 = await runLockd(['lock', 'nightly', '-c', config, '--', 'sh', '-c', 'echo $LOCKD_FENCING_TOKEN']);
      const t2 = await runLockd(['lock', 'nightly', '-c', config, '--', 'sh', '-c', 'echo $LOCKD_FENCING_TOKEN; exit 7']);
      assert.equal(t1.code, 0);
      assert.equal(t2.code, 7);
      const tokens = [readFileSync(held, 'utf8'), t1.stdout, t2.stdout].map((t) => BigInt(t.trim()));
      assert.ok(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, `tokens ${tokens.join(' ')}`);
    });

    it('lock --seats N: at most N commands at once, each with its own token; one name only', async () => {
      const config = cluster.writeConfig('seater', '  {}');
      const several = await runLockd(['lock', 'pool-a', 'pool-b', '--seats', '2', '-c', config, '--', 'true']);
      assert.equal(several.code, 2, several.stderr);
      assert.match(several.stderr, /--seats takes one seat set name/);
      const zero = await runLockd(['lock', 'pool', '--seats', '0', '-c', config, '--', 'true']);
      assert.equal(zero.code, 2, zero.stderr);
      const seat = (label: string): { holder: LockdProcess; file: string } => {
        const file = cluster.file(`seat-${label}`);
        const script = `echo "$LOCKD_FENCING_TOKEN $LOCKD_SEATS" > ${file}; sleep 30`;
        return { holder: new LockdProcess(`seat-${label}`, ['lock', 'pool', '--seats', '2', '-c', config, '--', 'sh', '-c', script]), file };
      };
      const one = seat('one');
      await waitForFile(one.file, 10_000, one.holder);
      const two = seat('two');
      await waitForFile(two.file, 10_000, two.holder);
      const [t1, t2] = [one.file, two.file].map((f) => readFileSync(f, 'utf8').trim().split(' '));
      assert.equal(t1![1], '2', 'LOCKD_SEATS is the seat count');
      assert.ok(BigInt(t2![0]!) > BigInt(t1![0]!));
      const full = await runLockd(['lock', 'pool', '--seats', '2', '-c', config, '--', 'true']);
      assert.equal(full.code, 3, full.stderr);
      assert.match(full.stderr, /every seat is taken/);
      const lock = await runLockd(['lock', 'pool', '-c', config, '--', 'true']);
      assert.equal(lock.code, 0, `the lock of the seat set's name is apart: ${lock.stderr}`);
      const waiting = runLockd(['lock', 'pool', '--seats', '2', '--wait', '15s', '-c', config, '--', 'sh', '-c', 'echo $LOCKD_FENCING_TOKEN'], { timeoutMs: 30_000 });
      one.holder.signal('SIGTERM');
      const third = await waiting;
      assert.equal(third.code, 0, third.stderr);
      assert.ok(BigInt(third.stdout.trim()) > BigInt(t2![0]!));
      two.holder.signal('SIGTERM');
      await Promise.all([one.holder.exited, two.holder.exited]);
    });

    it('locks: lists each held lock with its holder, token and waiters (text and --json)', async () => {
      const config = cluster.writeConfig('lister', '  {}');
      const held = cluster.file('listed-held');
      const holder = new LockdProcess('list-holder', ['lock', 'listed', '-c', config, '--', 'sh', '-c', `echo $LOCKD_FENCING_TOKEN > ${held}; sleep 30`]);
      await waitForFile(held, 10_000, holder);
      const token = readFileSync(held, 'utf8').trim();
      const json = await runLockd(['locks', '--json', '-c', config]);
      assert.equal(json.code, 0, json.stderr);
      const listed = (JSON.parse(json.stdout) as Array<{ name: string; token: string; holder: { node: string; pid: number } | null; waiting: number }>).find((l) => l.name === 'listed');
      assert.deepEqual(listed && { token: listed.token, node: listed.holder?.node, pid: listed.holder?.pid, waiting: listed.waiting }, {
        token,
        node: 'lister',
        pid: holder.pid,
        waiting: 0,
      });
      const text = await runLockd(['locks', '-c', config]);
      assert.match(text.stdout, new RegExp(`^listed\\s+${token}\\s+lister\\s`, 'm'));
      holder.signal('SIGTERM');
      await holder.exited;
      const after = await runLockd(['locks', '--json', '-c', config]);
      assert.equal((JSON.parse(after.stdout) as Array<{ name: string }>).some((l) => l.name === 'listed'), false, 'a released lock is still listed');
    });

    it('lock a b: several locks in sorted order, all or nothing; {a,b} and {b,a} at once never deadlock', async () => {
      const config = cluster.writeConfig('multi', '  {}');
      const log = cluster.file('multi-log');
      // Each run holds both locks for a moment: a run that got one and waited for the other in the
      // opposite order would deadlock the pair until --wait gave up.
      const round = (names: string[]): Promise<{ code: number | null; stderr: string }> =>
        runLockd(['lock', ...names, '--wait', '30s', '-c', config, '--', 'sh', '-c', `echo "$LOCKD_FENCING_TOKENS" >> ${log}; sleep 0.2`], { timeoutMs: 60_000 });
      const loop = async (names: string[]): Promise<void> => {
        for (let i = 0; i < 4; i++) {
          const result = await round(names);
          assert.equal(result.code, 0, result.stderr);
        }
      };
      await Promise.all([loop(['pair-a', 'pair-b']), loop(['pair-b', 'pair-a'])]);
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      assert.equal(lines.length, 8);
      assert.ok(lines.every((l) => /^pair-a=\d+,pair-b=\d+$/.test(l)), lines.join('\n'));
      const holder = new LockdProcess('pair-holder', ['lock', 'pair-b', '-c', config, '--', 'sh', '-c', `echo held >> ${log}.held; sleep 30`]);
      await waitForFile(`${log}.held`, 10_000, holder);
      const refused = await runLockd(['lock', 'pair-a', 'pair-b', '-c', config, '--', 'true']);
      assert.equal(refused.code, 3, refused.stderr);
      assert.match(refused.stderr, /lock pair-b is held/);
      const alone = await runLockd(['lock', 'pair-a', '-c', config, '--', 'true']);
      assert.equal(alone.code, 0, `pair-a was left held after the all-or-nothing failure: ${alone.stderr}`);
      holder.signal('SIGTERM');
      await holder.exited;
    });

    it('lock: a holder frozen past the TTL loses the lock; on resume it kills its command', async () => {
      const config = cluster.writeConfig('freezer', '  {}');
      const marks = cluster.file('freeze-marks');
      const script = `trap 'echo killed >> ${marks}; exit 143' TERM; echo started >> ${marks}; sleep 60 & wait`;
      const frozen = new LockdProcess('frozen', ['lock', 'backup', '--ttl', '2s', '-c', config, '--', 'sh', '-c', script]);
      await waitForFile(marks, 10_000);
      await freezeOutsideLocks(frozen.child, (pid) => target.blocksOthersWhileFrozen?.(pid, cluster.dir) ?? false);
      const taker = await runLockd(['lock', 'backup', '--wait', '15s', '-c', config, '--', 'sh', '-c', 'echo $LOCKD_FENCING_TOKEN']);
      assert.equal(taker.code, 0, `the lock was not free after the holder froze: ${taker.stderr}`);
      frozen.signal('SIGCONT');
      const exit = await frozen.exited;
      assert.equal(exit.code, 143, frozen.stderr.join('\n'));
      assert.deepEqual(readFileSync(marks, 'utf8').trim().split('\n'), ['started', 'killed']);
      assert.match(frozen.stderr.join('\n'), /lock backup lost/);
    });

    it('lock: held until every process of the command\'s group is gone, not only the command (`worker & exit 0`)', async () => {
      const config = cluster.writeConfig('grouper', '  {}');
      const workerPid = cluster.file('worker-pid');
      const release = cluster.file('worker-release');
      // The worker runs until the test lets it go, however slowly the second lockd starts.
      const workerScript = `(while [ ! -e ${release} ]; do sleep 0.05; done) & echo $! > ${workerPid}; exit 0`;
      const holder = new LockdProcess('holder', ['lock', 'spool', '-c', config, '--', 'sh', '-c', workerScript]);
      await waitForFile(workerPid, 10_000, holder);
      const worker = Number(readFileSync(workerPid, 'utf8'));
      const during = await runLockd(['lock', 'spool', '-c', config, '--', 'true']);
      assert.equal(during.code, 3, `the lock was free while the command's worker ran: ${during.stderr}`);
      assert.equal(holder.child.exitCode, null, 'lockd lock exited while the worker still ran');
      writeFileSync(release, '');
      const exit = await holder.exited;
      assert.equal(exit.code, 0, holder.stderr.join('\n'));
      assert.equal(processAlive(worker), false, 'lockd lock returned (and released) while the worker still ran');
      const after = await runLockd(['lock', 'spool', '-c', config, '--', 'true']);
      assert.equal(after.code, 0, after.stderr);
    });

    for (const fault of ['SIGKILL', 'SIGSTOP'] as const) {
      it(`lock: ${fault} of lockd lock alone: its command's members that ignore SIGTERM are dead before another holder gets the lock`, async () => {
        const config = cluster.writeConfig(`victim-${fault}`, '  {}');
        const memberPid = cluster.file(`member-${fault}`);
        const script = `(trap '' TERM; exec sleep 60) & echo $! > ${memberPid}; trap '' TERM; wait; wait`;
        const holder = new LockdProcess('holder', ['lock', `guard-${fault}`, '--ttl', '2s', '-c', config, '--', 'sh', '-c', script]);
        await waitForFile(memberPid, 10_000, holder);
        const member = Number(readFileSync(memberPid, 'utf8'));
        let memberGoneAt: number | undefined;
        const watching = waitFor('the member to die', () => {
          if (!processAlive(member)) memberGoneAt ??= Date.now();
          return memberGoneAt !== undefined;
        }, 30_000, 5);
        if (fault === 'SIGKILL') holder.signal('SIGKILL');
        else await freezeOutsideLocks(holder.child, (pid) => target.blocksOthersWhileFrozen?.(pid, cluster.dir) ?? false);
        const acquired = cluster.file(`acquired-${fault}`);
        const taker = await runLockd(['lock', `guard-${fault}`, '--wait', '20s', '-c', config, '--', 'sh', '-c', `date +%s%3N > ${acquired}`]);
        assert.equal(taker.code, 0, taker.stderr);
        await watching;
        const acquiredAt = Number(readFileSync(acquired, 'utf8'));
        assert.ok(memberGoneAt! <= acquiredAt, `the member lived ${acquiredAt - memberGoneAt!} ms into the next holder's lock`);
        if (fault === 'SIGSTOP') holder.signal('SIGCONT');
        await holder.stop();
      });
    }

    it('status and history exit 1 with a one-line message when the backend is unreachable', async () => {
      const config = cluster.file('unreachable.yaml');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(config, `cluster: x\nbackend:\n${target.unreachableYaml(cluster.dir)}\nleader:\n  ttl: 2s\njobs: {}\n`);
      for (const args of [['status'], ['history', 'any']]) {
        const result = await runLockd([...args, '-c', config], { timeoutMs: 60_000 });
        assert.equal(result.code, 1, `${args[0]}: ${result.stdout}${result.stderr}`);
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
        assert.doesNotMatch(result.stderr, /\n\s+at /);
      }
    });
  });
}

/** Waits until `file` exists and is not empty (what a test command writes first). */
/** Waits until `file` has content; on a timeout, the error carries what `writer` (the lockd expected to write it) said. */
async function waitForFile(file: string, timeoutMs: number, writer?: LockdProcess): Promise<void> {
  try {
    await waitFor(`${file} to be written`, () => existsSync(file) && readFileSync(file, 'utf8') !== '', timeoutMs);
  } catch (err) {
    if (writer === undefined) throw err;
    const state = writer.child.exitCode === null ? 'still running' : `exited with ${writer.child.exitCode}`;
    throw new Error(`${(err as Error).message}; ${writer.name} is ${state}; its stderr:\n${writer.stderr.slice(-20).join('\n')}`);
  }
}

function manualJob(ledger: string): string {
  return ['  manual:', '    schedule: "0 0 1 1 *"', `    run: ${JSON.stringify(ledgerJobCommand(ledger))}`].join('\n');
}
