import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createBackend } from '../../src/election/create-backend.js';
import { LockdError } from '../../src/errors.js';
import { makePki } from '../helpers/pki.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

describe('redis backend over TLS (rediss:// with backend.tls, as for etcd and PostgreSQL)', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lockd-redis-tls-'));
  const pki = path.join(dir, 'pki');
  const other = path.join(dir, 'other-pki');
  const file = (name: string): string => path.join(pki, name);
  let server: RedisServer;
  before(async () => {
    await Promise.all([makePki(pki), makePki(other)]);
    // Client certificates required: a connection without lockd's cert and key is refused.
    server = await startRedis({ tls: { cert: file('server.pem'), key: file('server-key.pem'), ca: file('ca.pem'), authClients: true } });
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (tls: { ca?: string; cert?: string; key?: string }) =>
    createBackend({ type: 'redis', url: server.url, tls }, { cluster: 'tls', node: 'tls-node', ttlMs: 3000, logger: pino({ level: 'silent' }) });

  it('connects with TLS, verifying the server by the configured CA and showing the client certificate', async () => {
    const backend = await open({ ca: file('ca.pem'), cert: file('client.pem'), key: file('client-key.pem') });
    try {
      const lease = await backend.tryAcquire('job');
      assert.ok(lease);
      assert.equal(await backend.guardedPut(lease, 'runs/job/1', 'x'), true);
      assert.equal(await backend.get('runs/job/1'), 'x');
      await lease.release();
    } finally {
      await backend.close();
    }
  });

  it('refuses a server whose certificate another CA signed', async () => {
    await assert.rejects(
      open({ ca: path.join(other, 'ca.pem'), cert: file('client.pem'), key: file('client-key.pem') }),
      (err: Error) => err instanceof LockdError && /certificate/i.test(err.message),
    );
  });

  it('is refused by a server that requires a client certificate when none is configured', async () => {
    await assert.rejects(open({ ca: file('ca.pem') }), (err: Error) => err instanceof LockdError);
  });

  it('names the config key and the file it cannot read, at open', async () => {
    const missing = path.join(dir, 'nope.pem');
    await assert.rejects(open({ ca: missing }), (err: Error) => err instanceof LockdError && err.message.includes('backend.tls.ca') && err.message.includes(missing));
  });
});
