import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Backend } from '../../src/election/backend.js';
import { createBackend } from '../../src/election/create-backend.js';
import { BackendStorageError } from '../../src/errors.js';
import { startPgBouncer, type PgBouncer } from '../helpers/pgbouncer.js';
import { startPostgres, type PgServer } from '../helpers/postgres-server.js';

const open = (url: string, cluster: string): Promise<Backend> =>
  createBackend({ type: 'postgres', url, schema: 'lockd' }, { cluster, node: 'pooled', ttlMs: 3000, logger: pino({ level: 'silent' }) });

describe('postgres behind PgBouncer', { timeout: 60_000 }, () => {
  let pg: PgServer;
  const bouncers: PgBouncer[] = [];
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await Promise.allSettled(bouncers.map((b) => b.stop()));
    await pg?.stop();
  });

  it('transaction pooling is refused at open with a clear error (LISTEN and session locks would silently break)', async () => {
    const bouncer = await startPgBouncer(pg, 'transaction', 1);
    bouncers.push(bouncer);
    await assert.rejects(open(bouncer.url, 'pooled-tx'), (err: Error) => err instanceof BackendStorageError && /PgBouncer in transaction/.test(err.message));
  });

  it('session pooling works: locks, guarded writes, the election', async () => {
    const bouncer = await startPgBouncer(pg, 'session', 20);
    bouncers.push(bouncer);
    const backend = await open(bouncer.url, 'pooled-session');
    try {
      const lease = await backend.campaign({ node: 'pooled', host: 'h', pid: 1, since: new Date().toISOString() });
      assert.equal(await backend.guardedPut(lease, 'jobs/x', 'v'), true);
      assert.equal(await backend.get('jobs/x'), 'v');
      const lock = await backend.tryAcquire('job');
      assert.ok(lock);
      await lock.release();
      await lease.release();
    } finally {
      await backend.close();
    }
  });
});
