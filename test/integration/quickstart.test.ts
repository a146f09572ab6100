import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { LockdProcess, runLockd } from '../helpers/lockd-process.js';
import { freePort } from '../helpers/ports.js';

const example = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config.example.yaml');

/** The README's quick start, scripted: no etcd or ZooKeeper involved, only config.example.yaml. */
describe('quick start on the embedded default', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lockd-quickstart-'));
  const daemons: LockdProcess[] = [];
  after(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('validates the example, runs the demo job, and status --json shows the leader and the last run', async () => {
    const validate = await runLockd(['validate', '-c', example], { cwd: dir });
    assert.equal(validate.code, 0, validate.stderr);
    assert.match(validate.stdout, /hello/);

    const env = { LOCKD_HTTP_LISTEN: `127.0.0.1:${await freePort()}`, LOCKD_LOG_LEVEL: 'info' };
    const daemon = new LockdProcess('quickstart', ['run', '-c', example], { cwd: dir, env });
    daemons.push(daemon);
    await daemon.waitForLeadership(10_000);
    const output = await daemon.waitForLog((l) => l.job === 'hello' && /^hello from .*fencing token \d+/.test(l.msg), 10_000);
    assert.ok(output);
    await daemon.waitForLog((l) => l.msg === 'run finished' && l.job === 'hello', 10_000);

    const status = await runLockd(['status', '--json', '-c', example], { cwd: dir, env });
    assert.equal(status.code, 0, status.stderr);
    const snapshot = JSON.parse(status.stdout) as {
      cluster: string;
      leader: { node: string; token: string; ttlMs: number; leaseRemainingMs?: number } | null;
      jobs: Array<{ name: string; next: string; last: { outcome: string; token: string } | null }>;
    };
    assert.equal(snapshot.cluster, 'demo');
    assert.ok(snapshot.leader !== null);
    assert.match(snapshot.leader.token, /^\d+$/);
    const remaining = snapshot.leader.leaseRemainingMs ?? 0;
    assert.ok(remaining > 0 && remaining <= snapshot.leader.ttlMs, `lease remaining ${remaining} ms`);
    const hello = snapshot.jobs.find((j) => j.name === 'hello');
    assert.ok(hello?.last !== null && hello?.last !== undefined, status.stdout);
    assert.ok(['success', 'running'].includes(hello.last.outcome));
    assert.ok(Date.parse(hello.next) > Date.now() - 1000);

    daemon.signal('SIGTERM');
    assert.deepEqual(await daemon.exited, { code: 0, signal: null });
  });
});
