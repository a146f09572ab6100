import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { LockdCluster } from '../helpers/lockd-cluster.js';
import { ledgerJobCommand, readLedger, waitForLedger } from '../helpers/ledger.js';
import { pollLockdJson } from '../helpers/lockd-process.js';
import type { RunRecord } from '../../src/scheduler/records.js';

/** lockd daemons next to a real peer client: etcdctl's own election and lock commands. */
describe('lockd daemons and etcdctl', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd.stop());

  const target = () => ({
    name: 'etcd',
    setup: async () => undefined,
    teardown: async () => undefined,
    backendYaml: () => `  type: etcd\n  endpoints: [${etcd.endpoint}]`,
  });

  it('etcdctl elect -l names the lockd leader, and the next one after a SIGTERM handoff', async () => {
    const cluster = new LockdCluster(target(), { ttl: '3s' });
    const observer = new LineReader(spawn('etcdctl', ['--endpoints', etcd.endpoint, 'elect', '-l', `lockd/${cluster.cluster}/leader`]));
    try {
      const a = cluster.start('alpha', '  {}');
      await a.waitForLeadership(20_000);
      await observer.waitFor((l) => l.includes('"node":"alpha"'), 10_000);
      const b = cluster.start('beta', '  {}');
      await b.waitForLog((l) => l.msg === 'lockd started', 20_000);
      a.signal('SIGTERM');
      await b.waitForLeadership(10_000);
      await observer.waitFor((l) => l.includes('"node":"beta"'), 10_000);
    } finally {
      observer.child.kill('SIGKILL');
      await cluster.stop();
    }
  });

  it('while etcdctl lock holds a job lock, lockd records the slots skipped (lock_held) and runs nothing', async () => {
    const cluster = new LockdCluster(target(), { ttl: '3s' });
    const ledger = cluster.file('ledger');
    const lockPrefix = `lockd/${cluster.cluster}/lock/tick`;
    const holder = new LineReader(spawn('etcdctl', ['--endpoints', etcd.endpoint, 'lock', lockPrefix]));
    try {
      await holder.waitFor((l) => l.startsWith(`${lockPrefix}/`), 10_000);
      const jobs = ['  tick:', '    schedule: "* * * * * *"', `    run: ${JSON.stringify(ledgerJobCommand(ledger))}`].join('\n');
      const replica = cluster.start('solo', jobs);
      await replica.waitForLeadership(20_000);
      const config = cluster.file('solo.yaml');
      const skipped = await pollLockdJson<RunRecord[]>(['history', 'tick', '--json', '-c', config], (records) => records.filter((r) => r.outcome === 'skipped' && r.reason === 'lock_held').length >= 2);
      assert.ok(skipped.every((r) => r.outcome === 'skipped'), JSON.stringify(skipped));
      assert.deepEqual(readLedger(ledger), []);

      holder.child.kill('SIGINT');
      await once(holder.child, 'exit');
      await waitForLedger(ledger, (e) => e.length >= 1, 10_000);
    } finally {
      holder.child.kill('SIGKILL');
      await cluster.stop();
    }
  });
});

/** Lines of a child's stdout, waited for as events. */
class LineReader {
  readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.waiters.forEach((w) => w());
    });
  }
  waitFor(match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.lines.find(match);
        if (found === undefined) return false;
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => reject(new Error(`no matching line in ${timeoutMs} ms: ${this.lines.join('\n')}`)), timeoutMs);
      if (!check()) this.waiters.push(check);
    });
  }
}
