import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { embeddedTarget, LockdCluster } from '../helpers/lockd-cluster.js';
import { pollLockdJson, runLockd } from '../helpers/lockd-process.js';
import type { RunRecord } from '../../src/scheduler/records.js';

/**
 * A run that outlives `lockd resign` keeps draining under its job lock: when the same process
 * leads again its slots of that job are skipped (overlap), and a shutdown drains it up to
 * `shutdown_grace`, then kills it.
 */
describe('runs that outlive a resign', { timeout: 60_000 }, () => {
  const cluster = new LockdCluster(embeddedTarget, { ttl: '3s', shutdownGrace: '2s' });
  after(() => cluster.stop());

  it('are skipped as overlap by the next term and drained, then killed, at shutdown', async () => {
    const marks = cluster.file('marks');
    const job = [
      '  slow:',
      '    schedule: "* * * * * *"',
      `    run: ${JSON.stringify(`trap 'echo "killed $LOCKD_RUN_ID" >> ${marks}; exit 143' TERM; echo "start $LOCKD_RUN_ID" >> ${marks}; sleep 60 & wait`)}`,
      '    kill_grace: 1s',
    ].join('\n');
    const solo = cluster.start('solo', job);
    await solo.waitForLog((l) => l.msg === 'run started' && l.job === 'slow', 20_000);
    const config = cluster.file('solo.yaml');

    const mark = solo.logs.length;
    const resign = await runLockd(['resign', '-c', config]);
    assert.equal(resign.code, 0, resign.stderr);
    await solo.waitForLeadership(10_000, mark);
    const records = await pollLockdJson<RunRecord[]>(['history', 'slow', '--json', '-c', config], (r) => r.filter((x) => x.outcome === 'skipped').length >= 2);
    // The 1 s pause after resigning leaves a slot or two `missed` (no_leader); none may fail on the held lock.
    assert.ok(records.every((r) => r.reason !== 'backend_error'), JSON.stringify(records));
    assert.ok(records.filter((r) => r.outcome === 'skipped').every((r) => r.reason === 'overlap'), JSON.stringify(records));
    assert.equal(readMarks(marks).filter((l) => l.startsWith('start')).length, 1);

    const stoppedAt = performance.now();
    solo.signal('SIGTERM');
    assert.deepEqual(await solo.exited, { code: 0, signal: null });
    const tookMs = performance.now() - stoppedAt;
    assert.ok(tookMs >= 2000, `exited after ${tookMs.toFixed(0)} ms, before shutdown_grace`);
    assert.equal(readMarks(marks).filter((l) => l.startsWith('killed')).length, 1, 'the drained run was killed after the grace');
  });
});

function readMarks(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}
