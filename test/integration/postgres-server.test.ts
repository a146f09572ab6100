import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startPostgres, startPostgresStandby, type PgServer } from '../helpers/postgres-server.js';
import { processAlive } from '../helpers/process-alive.js';
import { waitFor } from '../helpers/wait-for.js';

/** Runs `fn` on a fresh connection to `server.url`, closed afterwards whatever happens. */
async function withClient<T>(server: PgServer, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function rows(server: PgServer, sql: string): Promise<Array<Record<string, unknown>>> {
  return withClient(server, async (client) => (await client.query(sql)).rows as Array<Record<string, unknown>>);
}

/**
 * The PostgreSQL 15 harness itself (test/helpers/postgres-server.ts): a superuser `lockd` in
 * database `lockd`; freeze stops the backends of existing connections too; a fast, an immediate
 * and a kill -9 restart each keep every committed row; libfaketime steps move `clock_timestamp()`;
 * a hot standby refuses writes; `stop` removes the files and leaves no process.
 */
describe('PostgreSQL test server harness', { timeout: 90_000 }, () => {
  let server: PgServer;
  before(async () => {
    server = await startPostgres();
  });
  after(() => server?.stop());

  it('serves database lockd to the superuser lockd at url', async () => {
    assert.match(server.url, new RegExp(`^postgres://lockd@127\\.0\\.0\\.1:${server.port}/lockd$`));
    const [row] = await rows(
      server,
      'SELECT current_user AS "user", current_database() AS db, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser',
    );
    assert.deepEqual(row, { user: 'lockd', db: 'lockd', superuser: true });
  });

  it('freeze: a query on an existing connection gets no answer until thaw', async () => {
    await withClient(server, async (client) => {
      await client.query('SELECT 1');
      server.freeze();
      const answer = client.query('SELECT 1').then(() => 'answered');
      try {
        assert.equal(await Promise.race([answer, delay(500).then(() => 'no answer')]), 'no answer');
      } finally {
        server.thaw();
      }
      assert.equal(await answer, 'answered');
    });
  });

  it('a hot standby streams the primary\'s commits and refuses writes', async () => {
    const standby = await startPostgresStandby(server);
    try {
      await rows(server, 'CREATE TABLE streamed (n int)');
      await rows(server, 'INSERT INTO streamed VALUES (1)');
      // Until the table's creation has been replayed, the query fails: poll past that.
      const count = (): Promise<unknown> => rows(standby, 'SELECT count(*)::int AS n FROM streamed').then((r) => r[0]?.n, () => undefined);
      await waitFor('the row on the standby', async () => (await count()) === 1, 10_000, 50);
      assert.deepEqual(await rows(standby, 'SELECT pg_is_in_recovery() AS standby'), [{ standby: true }]);
      await assert.rejects(rows(standby, 'INSERT INTO streamed VALUES (2)'), /read-only transaction/);
    } finally {
      await standby.stop();
    }
  });

  it('restart fast, restart immediate, kill -9 then restart: each keeps the committed rows', async () => {
    await rows(server, 'CREATE TABLE kept (step text PRIMARY KEY)');
    const steps: Array<[string, () => Promise<void>]> = [
      ['fast', () => server.restart('fast')],
      ['immediate', () => server.restart('immediate')],
      [
        'kill9',
        async () => {
          const pid = server.pid;
          server.kill9();
          await waitFor('the killed postmaster to exit', () => !processAlive(pid), 5000);
          await server.restart();
        },
      ],
    ];
    const done: string[] = [];
    for (const [step, restart] of steps) {
      await rows(server, `INSERT INTO kept VALUES ('${step}')`);
      done.push(step);
      const pid = server.pid;
      await restart();
      assert.notEqual(server.pid, pid, `${step}: a new postmaster`);
      const kept = (await rows(server, 'SELECT step FROM kept ORDER BY step')).map((r) => r.step);
      assert.deepEqual(kept, [...done].sort(), `${step}: the committed rows survive`);
    }
  });

  it('stop removes the temp dir and leaves no postmaster', async () => {
    const pid = server.pid;
    await server.stop();
    assert.equal(existsSync(dirname(server.dataDir)), false);
    assert.equal(processAlive(pid), false);
    await server.stop();
  });
});

describe('PostgreSQL test server harness under libfaketime', { timeout: 60_000 }, () => {
  let server: PgServer;
  before(async () => {
    server = await startPostgres({ faketime: '+0' });
  });
  after(() => server?.stop());

  /** The server's clock minus this process's, in seconds. */
  const offsetS = async (): Promise<number> => {
    const [row] = await rows(server, 'SELECT extract(epoch FROM clock_timestamp())::float8 AS now');
    return Number(row?.now) - Date.now() / 1000;
  };

  it('stepClock moves clock_timestamp() by the step, both ways', async () => {
    assert.ok(Math.abs(await offsetS()) < 2, 'starts at +0');
    for (const [offset, expected] of [['+30s', 30], ['-1h', -3600], ['+0', 0]] as const) {
      server.stepClock(offset);
      const measured = await offsetS();
      assert.ok(Math.abs(measured - expected) < 2, `${offset}: the server's clock is off by ${measured.toFixed(1)} s`);
    }
  });
});
