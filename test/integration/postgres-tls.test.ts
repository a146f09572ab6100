import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { createBackend } from '../../src/election/create-backend.js';
import { LockdError } from '../../src/errors.js';
import { makePki } from '../helpers/pki.js';
import { serverUser, startPostgres, type PgServer } from '../helpers/postgres-server.js';

describe('postgres backend over TLS (backend.tls, as for etcd)', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lockd-pg-tls-'));
  const pki = path.join(dir, 'pki');
  const other = path.join(dir, 'other-pki');
  let server: PgServer;
  before(async () => {
    await Promise.all([makePki(pki), makePki(other)]);
    // The server reads its key as the postgres user, and refuses a key others can read.
    const user = serverUser();
    chmodSync(dir, 0o755);
    chmodSync(pki, 0o755);
    if (user) chownSync(path.join(pki, 'server-key.pem'), user.uid, user.gid);
    chmodSync(path.join(pki, 'server-key.pem'), 0o600);
    server = await startPostgres({
      settings: ['ssl=on', `ssl_cert_file=${path.join(pki, 'server.pem')}`, `ssl_key_file=${path.join(pki, 'server-key.pem')}`],
    });
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (ca: string) =>
    createBackend({ type: 'postgres', url: server.url, schema: 'lockd', tls: { ca } }, { cluster: 'tls', node: 'tls-node', ttlMs: 3000, logger: pino({ level: 'silent' }) });

  it('connects with TLS, verifying the server against the configured CA', async () => {
    const backend = await open(path.join(pki, 'ca.pem'));
    try {
      const lease = await backend.tryAcquire('job');
      assert.ok(lease);
      const check = new pg.Client({ connectionString: server.url });
      await check.connect();
      try {
        const { rows } = await check.query<{ ssl: boolean }>(
          "SELECT bool_and(s.ssl) AS ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'lockd/tls/tls-node'",
        );
        assert.equal(rows[0]?.ssl, true, "lockd's connections are not encrypted");
      } finally {
        await check.end();
      }
      await lease.release();
    } finally {
      await backend.close();
    }
  });

  it('refuses a server whose certificate another CA signed', async () => {
    await assert.rejects(open(path.join(other, 'ca.pem')), (err: Error) => err instanceof LockdError && /certificate/i.test(err.message));
  });
});
