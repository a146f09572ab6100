import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { LockdCluster } from '../helpers/lockd-cluster.js';
import { ledgerJobCommand, readLedger, waitForLedger } from '../helpers/ledger.js';
import { runLockd, type LockdProcess } from '../helpers/lockd-process.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';

/** The HTTP endpoint of two real replicas on a real etcd, through a handover and a frozen etcd. */
describe('HTTP endpoint: /metrics /healthz /readyz /status', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  let cluster: LockdCluster;
  before(async () => {
    etcd = await startEtcd();
    cluster = new LockdCluster(
      { name: 'etcd', setup: async () => undefined, teardown: async () => undefined, backendYaml: () => `  type: etcd\n  endpoints: [${etcd.endpoint}]` },
      { ttl: '3s', extraYaml: 'http:\n  listen: ${LOCKD_HTTP_LISTEN:-127.0.0.1:0}' },
    );
  });
  after(async () => {
    etcd.thaw();
    await cluster.stop();
    await etcd.stop();
  });

  it('is_leader flips, leader changes count, runs match the ledger, readyz follows the backend', async () => {
    const ledger = cluster.file('ledger');
    const jobs = ['  tick:', '    schedule: "* * * * * *"', `    run: ${JSON.stringify(ledgerJobCommand(ledger))}`].join('\n');
    const ports = { a: await freePort(), b: await freePort() };
    const a = cluster.start('a', jobs, { LOCKD_HTTP_LISTEN: `127.0.0.1:${ports.a}` });
    await a.waitForLeadership(20_000);
    const b = cluster.start('b', jobs, { LOCKD_HTTP_LISTEN: `127.0.0.1:${ports.b}` });
    await b.waitForLog((l) => l.msg === 'http endpoint listening', 20_000);
    await waitForLedger(ledger, (e) => e.length >= 2, 10_000);

    assert.equal(await metric(ports.a, 'lockd_is_leader'), 1);
    assert.equal(await metric(ports.b, 'lockd_is_leader'), 0);
    assert.equal(await metric(ports.a, 'lockd_leader_changes_total'), 1);
    assert.equal((await get(ports.a, '/healthz')).status, 200);
    const status = JSON.parse((await get(ports.b, '/status')).body) as { leader: { node: string; ttlMs: number; leaseRemainingMs?: number } };
    assert.equal(status.leader.node, 'a');
    const remaining = status.leader.leaseRemainingMs ?? 0;
    assert.ok(remaining > 0 && remaining <= status.leader.ttlMs, `lease remaining ${remaining} ms`);

    const resign = await runLockd(['resign', '-c', cluster.file('a.yaml')]);
    assert.equal(resign.code, 0, resign.stderr);
    await b.waitForLeadership(5_000);
    assert.equal(await metric(ports.a, 'lockd_is_leader'), 0);
    assert.equal(await metric(ports.b, 'lockd_is_leader'), 1);
    assert.equal(await metric(ports.a, 'lockd_leader_changes_total'), 2);
    assert.equal(await metric(ports.b, 'lockd_leader_changes_total'), 1);
    await waitForLedger(ledger, (e) => e.some((x) => x.node === 'b'), 10_000);

    // Stop scheduling on both (reload without jobs), let the last runs finish, then count.
    for (const r of [a, b]) {
      cluster.writeConfig(r.name, '  {}');
      const mark = r.logs.length;
      r.signal('SIGHUP');
      await r.waitForLog((l) => l.msg === 'config reloaded', 10_000, mark);
    }
    await Promise.all([a, b].map((r) => allRunsFinished(r)));
    const success = (await metric(ports.a, 'lockd_job_runs_total{job="tick",outcome="success"}')) + (await metric(ports.b, 'lockd_job_runs_total{job="tick",outcome="success"}'));
    assert.equal(success, readLedger(ledger).length);

    etcd.freeze();
    await waitForStatus(ports.b, '/readyz', 503, 6_000);
    assert.match((await get(ports.b, '/readyz')).body, /not ready/);
    assert.equal(await metric(ports.b, 'lockd_backend_up'), 0);
    etcd.thaw();
    await waitForStatus(ports.b, '/readyz', 200, 15_000);
    await waitForStatus(ports.a, '/readyz', 200, 15_000);
  });
});

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** The value of one sample line (`name` includes labels as Prometheus prints them); 0 when absent. */
async function metric(port: number, name: string): Promise<number> {
  const { body } = await get(port, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

function waitForStatus(port: number, path: string, status: number, timeoutMs: number): Promise<void> {
  return waitFor(`${path} to answer ${status}`, async () => (await get(port, path)).status === status, timeoutMs, 50);
}

function allRunsFinished(r: LockdProcess): Promise<void> {
  const count = (msg: string) => r.logs.filter((l) => l.msg === msg).length;
  return waitFor(`${r.name}'s runs in flight to finish`, () => count('run started') === count('run finished'));
}
