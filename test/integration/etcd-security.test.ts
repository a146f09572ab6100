import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { LockdProcess, runLockd } from '../helpers/lockd-process.js';
import { makePki } from '../helpers/pki.js';
import { freePort } from '../helpers/ports.js';
import { requireBinary } from '../helpers/require-binary.js';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);
const SECRET = 'pa55-w0rd-never-logged';

/** etcd with authentication (least-privilege user on `lockd/`) and etcd over mutual TLS. */
describe('etcd security options', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lockd-etcd-security-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('username and password from ${ENV}', () => {
    let etcd: EtcdServer;
    before(async () => {
      etcd = await startEtcd();
      const ctl = (...args: string[]) => run('etcdctl', ['--endpoints', etcd.endpoint, ...args]);
      await ctl('user', 'add', 'root', '--new-user-password=root-pw');
      await ctl('user', 'grant-role', 'root', 'root');
      await ctl('user', 'add', 'lockd', `--new-user-password=${SECRET}`);
      await ctl('role', 'add', 'lockd-rw');
      await ctl('role', 'grant-permission', 'lockd-rw', '--prefix=true', 'readwrite', 'lockd/');
      await ctl('user', 'grant-role', 'lockd', 'lockd-rw');
      await ctl('auth', 'enable');
    });
    after(() => etcd.stop());

    it('leads and runs a job with a password that appears in no log line', async () => {
      const config = writeConfig(dir, 'auth.yaml', [`  endpoints: [${etcd.endpoint}]`, '  username: lockd', '  password: ${ETCD_PASSWORD}']);
      const daemon = new LockdProcess('auth', ['run', '-c', config], { env: { ETCD_PASSWORD: SECRET, LOCKD_LOG_LEVEL: 'trace' } });
      try {
        await daemon.waitForLeadership(15_000);
        await daemon.waitForLog((l) => l.msg === 'run finished', 10_000);
        const status = await runLockd(['status', '--json', '-c', config], { env: { ETCD_PASSWORD: SECRET } });
        assert.equal(status.code, 0, status.stderr);
        daemon.signal('SIGTERM');
        await daemon.exited;
        const everything = [...daemon.logs.map((l) => JSON.stringify(l)), ...daemon.stderr, status.stdout, status.stderr].join('\n');
        assert.ok(!everything.includes(SECRET), 'the password leaked into output');
      } finally {
        await daemon.stop();
      }
    });

    it('a wrong password is refused with a clear one-line error and exit 1', async () => {
      const config = writeConfig(dir, 'wrong.yaml', [`  endpoints: [${etcd.endpoint}]`, '  username: lockd', '  password: wrong-${ETCD_PASSWORD}']);
      const result = await runLockd(['status', '-c', config], { env: { ETCD_PASSWORD: SECRET } });
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /auth|password|permission|authenticat/i);
      assert.ok(!result.stderr.includes(SECRET));
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    });
  });

  describe('mutual TLS', () => {
    let etcd: ChildProcess;
    let endpoint = '';
    const pki = path.join(dir, 'pki');
    before(async () => {
      requireBinary('/usr/bin/openssl', 'openssl');
      await makePki(pki);
      const [client, peer] = [await freePort(), await freePort()];
      endpoint = `https://127.0.0.1:${client}`;
      etcd = spawn('etcd', [
        '--data-dir', path.join(dir, 'tls-data'),
        '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
        '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
        '--initial-cluster', `default=http://127.0.0.1:${peer}`,
        '--cert-file', path.join(pki, 'server.pem'), '--key-file', path.join(pki, 'server-key.pem'),
        '--trusted-ca-file', path.join(pki, 'ca.pem'), '--client-cert-auth',
      ], { stdio: 'ignore' });
      const tlsArgs = ['--cacert', path.join(pki, 'ca.pem'), '--cert', path.join(pki, 'client.pem'), '--key', path.join(pki, 'client-key.pem')];
      const healthy = () => run('etcdctl', ['--endpoints', endpoint, ...tlsArgs, 'endpoint', 'health']).then(() => true, () => false);
      await waitFor('the TLS etcd to become healthy', healthy, 15_000, 100);
    });
    after(async () => {
      etcd.kill('SIGKILL');
      await once(etcd, 'exit');
    });

    it('leads over TLS with a client certificate; without one the backend is refused', async () => {
      const tls = [`  endpoints: [${endpoint}]`, '  tls:', `    ca: ${path.join(pki, 'ca.pem')}`, `    cert: ${path.join(pki, 'client.pem')}`, `    key: ${path.join(pki, 'client-key.pem')}`];
      const daemon = new LockdProcess('tls', ['run', '-c', writeConfig(dir, 'tls.yaml', tls)]);
      try {
        await daemon.waitForLeadership(15_000);
        await daemon.waitForLog((l) => l.msg === 'run finished', 10_000);
      } finally {
        await daemon.stop();
      }
      const noCert = writeConfig(dir, 'no-cert.yaml', [`  endpoints: [${endpoint}]`, '  tls:', `    ca: ${path.join(pki, 'ca.pem')}`]);
      const refused = await runLockd(['status', '-c', noCert], { timeoutMs: 60_000 });
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    });
  });
});

function writeConfig(dir: string, name: string, backend: string[]): string {
  const file = path.join(dir, name);
  const cluster = `sec${Date.now().toString(36)}`;
  writeFileSync(
    file,
    [`cluster: ${cluster}`, 'backend:', '  type: etcd', ...backend, 'leader:', '  ttl: 3s', 'jobs:', '  tick:', '    schedule: "* * * * * *"', '    run: "true"', ''].join('\n'),
  );
  return file;
}
