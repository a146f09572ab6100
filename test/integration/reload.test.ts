import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { embeddedTarget, LockdCluster } from '../helpers/lockd-cluster.js';
import { ledgerJobCommand, readLedger, waitForLedger } from '../helpers/ledger.js';
import { runLockd } from '../helpers/lockd-process.js';

/** Config problems are reported all at once; SIGHUP reloads, and an invalid reload keeps the old jobs. */
describe('config on the command line and on SIGHUP', () => {
  const cluster = new LockdCluster(embeddedTarget, { ttl: '3s' });
  after(() => cluster.stop());

  it('a file with several mistakes yields all of them with line:col and exit 2 (validate and run)', async () => {
    const file = cluster.file('bad.yaml');
    writeFileSync(
      file,
      [
        'cluster: demo', // 1
        'bogus: 1', // 2
        'jobs:', // 3
        '  a:', // 4
        '    schedule: "61 * * * *"', // 5
        '    run: echo a', // 6
        '    timezone: Mars/Base', // 7
        '  b:', // 8
        '    schedule: "@hourly"', // 9
        '    timeout: 5 minutes', // 10
        '    run: echo b', // 11
        '    command: [echo, b]', // 12
        '',
      ].join('\n'),
    );
    for (const command of ['validate', 'run']) {
      const result = await runLockd([command, '-c', file]);
      assert.equal(result.code, 2, `${command}: ${result.stderr}`);
      const lines = result.stderr.trim().split('\n');
      const positions = lines.map((l) => /:(\d+):(\d+): /.exec(l)?.slice(1, 3).join(':'));
      assert.deepEqual(positions, ['2:1', '5:15', '7:15', '8:3', '10:14'], result.stderr);
      assert.ok(lines.every((l) => l.startsWith(`${file}:`)), result.stderr);
    }
  });

  it('SIGHUP with an invalid file keeps the old jobs running; a valid one applies the new jobs', async () => {
    const ledger = cluster.file('ledger');
    const second = cluster.file('second');
    const job = (name: string, file: string): string =>
      [`  ${name}:`, '    schedule: "* * * * * *"', `    run: ${JSON.stringify(ledgerJobCommand(file))}`].join('\n');
    const replica = cluster.start('solo', job('tick', ledger));
    await replica.waitForLeadership(20_000);
    await waitForLedger(ledger, (e) => e.length >= 2, 10_000);

    const configFile = cluster.file('solo.yaml');
    writeFileSync(configFile, 'cluster: [not, a, string\n');
    let mark = replica.logs.length;
    replica.signal('SIGHUP');
    const refused = await replica.waitForLog((l) => l.msg.startsWith('reload refused'), 10_000, mark);
    assert.match(String(refused.err), /solo\.yaml:\d+:\d+: /);
    const count = readLedger(ledger).length;
    await waitForLedger(ledger, (e) => e.length >= count + 2, 10_000);

    cluster.writeConfig('solo', `${job('tick', ledger)}\n${job('tock', second)}`);
    mark = replica.logs.length;
    replica.signal('SIGHUP');
    await replica.waitForLog((l) => l.msg === 'config reloaded', 10_000, mark);
    await waitForLedger(second, (e) => e.length >= 2, 10_000);
  });
});
