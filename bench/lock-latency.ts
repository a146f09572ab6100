import { pino } from 'pino';
import Database from 'better-sqlite3';
import { Etcd3 } from 'etcd3';
import zookeeper from 'node-zookeeper-client';
import pg from 'pg';
import { createClient } from 'redis';
import type { BackendConfig } from '../src/config/types.js';
import { createBackend } from '../src/election/create-backend.js';
import { percentile, timeEach } from './stats.js';

export interface LatencyRow {
  backend: string;
  lockdP50: number;
  lockdP99: number;
  rawP50: number;
  rawP99: number;
  rawWhat: string;
}

const N = 400;
const WARMUP = 40;

/**
 * lockd's tryAcquire + release against a raw create-if-absent + delete on the same server. The two
 * alternate call by call, so both see the same machine load.
 */
export async function lockLatency(name: string, config: BackendConfig, raw: () => Promise<{ op: () => Promise<void>; close: () => Promise<void>; what: string }>): Promise<LatencyRow> {
  const backend = await createBackend(config, { cluster: `bench${Date.now()}`, ttlMs: 10_000, logger: pino({ level: 'silent' }) });
  const baseline = await raw();
  const lockd: number[] = [];
  const rawSamples: number[] = [];
  await timeEach(N, WARMUP, async (i) => {
    const start = performance.now();
    const lease = await backend.tryAcquire('bench');
    if (lease === null) throw new Error('bench lock unexpectedly held');
    await lease.release();
    const middle = performance.now();
    await baseline.op();
    if (i >= 0) {
      lockd.push(middle - start);
      rawSamples.push(performance.now() - middle);
    }
  });
  await backend.close();
  await baseline.close();
  return {
    backend: name,
    lockdP50: percentile(lockd, 50),
    lockdP99: percentile(lockd, 99),
    rawP50: percentile(rawSamples, 50),
    rawP99: percentile(rawSamples, 99),
    rawWhat: baseline.what,
  };
}

/** etcd: one txn "create_revision == 0 → put with lease", then delete, from one client. */
export async function rawEtcd(endpoint: string) {
  const client = new Etcd3({ hosts: endpoint });
  const lease = client.lease(10);
  const leaseId = await lease.grant();
  const key = `bench-raw/${Date.now()}`;
  return {
    what: 'txn create-if-absent + delete (etcd3 client)',
    op: async () => {
      await client.if(key, 'Create', '==', 0).then(client.put(key).value('x').lease(leaseId)).commit();
      await client.delete().key(key);
    },
    close: async () => {
      await lease.revoke();
      client.close();
    },
  };
}

/** ZooKeeper: ephemeral create + delete from one session. */
export async function rawZooKeeper(connect: string) {
  const client = zookeeper.createClient(connect, { sessionTimeout: 10_000 });
  await new Promise<void>((resolve) => {
    client.once('connected', () => resolve());
    client.connect();
  });
  const path = `/bench-raw-${Date.now()}`;
  const call = (fn: (cb: (err: unknown) => void) => void) =>
    new Promise<void>((resolve, reject) => fn((err) => (err ? reject(err as Error) : resolve())));
  return {
    what: 'ephemeral create + delete (node-zookeeper-client)',
    op: async () => {
      await call((cb) => client.create(path, Buffer.from('x'), zookeeper.CreateMode.EPHEMERAL, cb));
      await call((cb) => client.remove(path, -1, cb));
    },
    close: async () => client.close(),
  };
}

/** SQLite: insert + delete, each in its own BEGIN IMMEDIATE transaction, WAL mode. */
export async function rawSqlite(file: string) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS bench_raw (name TEXT PRIMARY KEY, holder TEXT)');
  const insertRow = db.prepare('INSERT INTO bench_raw (name, holder) VALUES (?, ?)');
  const deleteRow = db.prepare('DELETE FROM bench_raw WHERE name = ?');
  const insert = db.transaction(() => insertRow.run('bench', 'me'));
  const remove = db.transaction(() => deleteRow.run('bench'));
  return {
    what: 'INSERT + DELETE in BEGIN IMMEDIATE transactions (better-sqlite3)',
    op: async () => {
      insert.immediate();
      remove.immediate();
    },
    close: async () => {
      db.close();
    },
  };
}

/**
 * PostgreSQL: `INSERT … ON CONFLICT DO NOTHING` + `DELETE`, each its own autocommit statement
 * (parameters, so the same extended protocol as lockd's calls), from one plain `pg.Client`.
 */
export async function rawPostgres(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const table = `bench_raw_${Date.now()}`;
  await client.query(`CREATE TABLE ${table} (k text PRIMARY KEY)`);
  return {
    what: 'INSERT … ON CONFLICT DO NOTHING + DELETE, autocommit (pg.Client)',
    op: async () => {
      await client.query(`INSERT INTO ${table} (k) VALUES ($1) ON CONFLICT DO NOTHING`, ['bench']);
      await client.query(`DELETE FROM ${table} WHERE k = $1`, ['bench']);
    },
    close: async () => {
      await client.query(`DROP TABLE ${table}`);
      await client.end();
    },
  };
}

/**
 * Redis: `SET k v NX PX 10000` + `DEL k`, two commands and two round trips, from one plain
 * node-redis client (RESP2, as lockd's connections).
 */
export async function rawRedis(url: string) {
  const client = createClient({ url, RESP: 2 });
  client.on('error', () => undefined);
  await client.connect();
  const key = `bench-raw:${Date.now()}`;
  return {
    what: 'SET k v NX PX 10000 + DEL k (node-redis client)',
    op: async () => {
      await client.sendCommand(['SET', key, 'x', 'NX', 'PX', '10000']);
      await client.sendCommand(['DEL', key]);
    },
    close: async () => {
      client.destroy();
    },
  };
}

/**
 * Redlock's own baseline: `SET k v NX PX 10000` on every primary in parallel, then `DEL k` on every
 * primary in parallel (Redlock's acquire and release without the majority count), from one plain
 * node-redis client per primary in this process.
 */
export async function rawRedlock(urls: readonly string[]) {
  const clients = await Promise.all(
    urls.map(async (url) => {
      const client = createClient({ url, RESP: 2 });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    }),
  );
  const key = `bench-raw:${Date.now()}`;
  return {
    what: `SET k v NX PX 10000 on ${urls.length} primaries in parallel + DEL k on each (node-redis clients)`,
    op: async () => {
      await Promise.all(clients.map((c) => c.sendCommand(['SET', key, 'x', 'NX', 'PX', '10000'])));
      await Promise.all(clients.map((c) => c.sendCommand(['DEL', key])));
    },
    close: async () => {
      for (const c of clients) c.destroy();
    },
  };
}
