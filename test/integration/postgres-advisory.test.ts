import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createBackend } from '../../src/election/create-backend.js';
import type { Backend } from '../../src/election/backend.js';
import { LockdCluster } from '../helpers/lockd-cluster.js';
import { startPostgres, type PgServer } from '../helpers/postgres-server.js';
import { requireBinary } from '../helpers/require-binary.js';
import { waitFor } from '../helpers/wait-for.js';

const KEY = 4_611_686_018_427_387_905n; // above 2^53: a JS number would round it

/** A `psql` session kept open, as an existing script using advisory locks would be. */
class Psql {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private waiting: (() => void) | undefined;
  private count = 0;

  constructor(url: string) {
    requireBinary('/usr/bin/psql', 'postgresql-client');
    this.child = spawn('/usr/bin/psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', url]);
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.lines.push(line);
      this.waiting?.();
    });
  }

  /** Runs `sql` and resolves its output lines. */
  async query(sql: string): Promise<string[]> {
    const marker = `--done-${++this.count}--`;
    const start = this.lines.length;
    this.child.stdin.write(`${sql}\n\\echo ${marker}\n`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`psql: no answer to ${sql}`)), 10_000);
      this.waiting = () => {
        if (this.lines.slice(start).includes(marker)) {
          clearTimeout(timer);
          resolve();
        }
      };
      this.waiting();
    });
    return this.lines.slice(start, this.lines.indexOf(marker, start));
  }

  close(): void {
    this.child.kill();
  }
}

/** The holders query docs/backends/postgres.md documents for advisory_lock jobs. */
const ADVISORY_HOLDERS = `SELECT (l.classid::bigint << 32 | l.objid::bigint) AS key, a.application_name
  FROM pg_locks l JOIN pg_stat_activity a USING (pid)
  WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;

describe('postgres advisory_lock: lockd and pg_try_advisory_lock exclude each other', { timeout: 120_000 }, () => {
  let pg: PgServer;
  let cluster: LockdCluster;
  let psql: Psql;
  const backends: Backend[] = [];
  before(async () => {
    pg = await startPostgres();
    cluster = new LockdCluster({ name: 'postgres', setup: async () => undefined, teardown: async () => undefined, backendYaml: () => `  type: postgres\n  url: ${pg.url}` }, { ttl: '3s' });
    psql = new Psql(pg.url);
  });
  after(async () => {
    psql?.close();
    await Promise.allSettled(backends.map((b) => b.close()));
    await cluster?.stop();
    await pg?.stop();
  });

  const open = async (name: string): Promise<Backend> => {
    const backend = await createBackend({ type: 'postgres', url: pg.url, schema: 'lockd' }, { cluster: name, node: 'test', ttlMs: 3000, logger: pino({ level: 'silent' }) });
    backends.push(backend);
    return backend;
  };

  it('a key held by psql makes the job skip its slots (lock_held); once psql unlocks, the job runs', async () => {
    assert.deepEqual(await psql.query(`SELECT pg_advisory_lock(${KEY});`), ['']);
    const ran = cluster.file('ran');
    const replica = cluster.start('a', `  guarded:\n    schedule: '* * * * * *'\n    advisory_lock: ${KEY}\n    run: echo $LOCKD_FENCING_TOKEN >> ${ran}\n`);
    await replica.waitForLog((l) => l.msg === 'slot skipped: lock_held' && l.job === 'guarded', 20_000);
    await replica.waitForLog((l) => l.msg === 'slot skipped: lock_held' && l.job === 'guarded', 5_000, replica.logs.length);
    assert.equal(existsSync(ran), false, 'the job ran while psql held its advisory lock');
    assert.deepEqual(await psql.query(`SELECT pg_advisory_unlock(${KEY});`), ['t']);
    await waitFor('a run once psql unlocked', () => existsSync(ran) && readFileSync(ran, 'utf8').trim() !== '', 10_000);
    await replica.stop();
  });

  it('while lockd holds the key for a run, psql cannot take it, and the holders query names lockd', async () => {
    const backend = await open(`adv-${Date.now()}`);
    const lease = await backend.tryAcquire('job');
    assert.ok(lease);
    assert.equal(await backend.holdAdvisoryLock!(lease, KEY), true);
    assert.deepEqual(await psql.query(`SELECT pg_try_advisory_lock(${KEY});`), ['f']);
    const holders = await psql.query(`${ADVISORY_HOLDERS};`);
    assert.ok(holders.some((row) => row.startsWith(`${KEY}|lockd/`)), `holders: ${holders.join('; ')}`);
    await lease.release();
    assert.deepEqual(await psql.query(`SELECT pg_try_advisory_lock(${KEY});`), ['t']);
    assert.deepEqual(await psql.query(`SELECT pg_advisory_unlock(${KEY});`), ['t']);
  });

  it('a key held by another lease of the same backend is refused (PostgreSQL would grant it again)', async () => {
    const backend = await open(`adv-local-${Date.now()}`);
    const first = await backend.tryAcquire('one');
    const second = await backend.tryAcquire('two');
    assert.ok(first && second);
    assert.equal(await backend.holdAdvisoryLock!(first, KEY), true);
    assert.equal(await backend.holdAdvisoryLock!(second, KEY), false);
    await first.release();
    assert.equal(await backend.holdAdvisoryLock!(second, KEY), true);
    await second.release();
  });

  it('a lost advisory connection aborts the lease at once (the server released the key)', async () => {
    const backend = await open(`adv-lost-${Date.now()}`);
    const lease = await backend.tryAcquire('job');
    assert.ok(lease);
    assert.equal(await backend.holdAdvisoryLock!(lease, KEY), true);
    const killed = await psql.query(
      `SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND (l.classid::bigint << 32 | l.objid::bigint) = ${KEY};`,
    );
    assert.deepEqual(killed, ['t']);
    await waitFor('the lease to abort', () => lease.signal.aborted, 5_000);
    assert.match((lease.signal.reason as Error).message, /advisory lock .* lost/);
  });
});
