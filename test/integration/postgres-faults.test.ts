import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import type { Backend, Lease } from '../../src/election/backend.js';
import { createBackend } from '../../src/election/create-backend.js';
import { systemClock } from '../../src/clock.js';
import { BackendStorageError, BackendUnavailableError } from '../../src/errors.js';
import { settledPut } from '../../src/scheduler/settled-put.js';
import { HolderClient } from '../conformance/holder-client.js';
import { FaultProxy, type ChunkSource, type ChunkVerdict } from '../helpers/fault-proxy.js';
import { assertRunsNeverOverlap, readStubbornRuns, stubbornJobCommand, type StubbornRun } from '../helpers/ledger.js';
import { leadershipTerms, overlappingTerms } from '../helpers/leadership-intervals.js';
import { justBeforeASlot, ledgerHistory, type LedgerRun } from '../helpers/ledger-replicas.js';
import { LockdCluster, type ProcessBackendTarget } from '../helpers/lockd-cluster.js';
import { runLockd, type LockdProcess } from '../helpers/lockd-process.js';
import { startPostgres, startPostgresStandby, type PgServer } from '../helpers/postgres-server.js';
import { assertSlotsAccounted } from '../helpers/slot-accounting.js';
import { waitFor } from '../helpers/wait-for.js';

const TTL_MS = 3000;
const SCHEDULE = '* * * * * *';
/** After the server answers again: TTL (the reaper watches the old leader's row anew) + 3 s. */
const RECOVERY_BOUND_MS = TTL_MS + 3000;
/** A dead holder's row goes once a reaper saw it silent for the TTL, plus its poll and a queue look. */
const TAKEOVER_BOUND_MS = TTL_MS + 1500;

/**
 * PostgreSQL faults against real PostgreSQL 15 (test/helpers/postgres-server.ts): restarts under
 * running replicas, steps of the server's wall clock (libfaketime), a hot standby, the
 * connections' identity and server-side timeouts, a write whose reply is lost after its commit,
 * and a SIGSTOPped client. The replicas' job ignores SIGTERM and says it is alive every 100 ms
 * for 0.3 s, so the ledger also shows that no process of a run lives on when another run starts.
 */
describe('postgres: server and client faults', { timeout: 240_000 }, () => {
  let server: PgServer;
  const target: ProcessBackendTarget = {
    name: 'postgres',
    setup: async () => undefined,
    teardown: async () => undefined,
    backendYaml: () => `  type: postgres\n  url: ${server.url}\n  schema: lockd`,
  };
  before(async () => {
    // Under libfaketime from the start, so that one test can step its clock; offset +0 otherwise.
    server = await startPostgres({ faketime: '+0' });
  });
  afterEach(() => {
    server.thaw();
    server.stepClock('+0');
  });
  after(() => server?.stop());

  it("restart('fast'), restart('immediate'), then kill -9 of the postmaster and a start 2×TTL later, under three replicas: one leader again and runs within TTL + 3 s of the server being back; the ledger invariants hold", async (t) => {
    const run = await startRuns(target);
    const outages: Array<{ name: string; inflict: () => Promise<void> }> = [
      { name: "restart('fast')", inflict: () => server.restart('fast') },
      { name: "restart('immediate')", inflict: () => server.restart('immediate') },
      {
        // Down for longer than the TTL: every replica self-fences, and the rows of the old
        // sessions are still there when the server is back (nobody could reap them).
        name: 'kill -9, down for 2×TTL, crash recovery',
        inflict: async () => {
          const killedAt = performance.now();
          server.kill9();
          await waitFor('2×TTL with the server down', () => performance.now() - killedAt >= 2 * TTL_MS, 3 * TTL_MS);
          await server.restart();
        },
      },
    ];
    try {
      const fromWall = Date.now();
      for (const outage of outages) {
        await justBeforeASlot();
        const marks = run.cluster.replicas.map((r) => r.logs.length);
        const downAt = performance.now();
        await outage.inflict();
        const backAt = performance.now();
        const backWall = Date.now();
        const first = await waitForRuns(run, (runs) => runs.find((r) => Number(r.startNs / 1_000_000n) > backWall), RECOVERY_BOUND_MS + 5000);
        const firstAfterMs = Number(first.startNs / 1_000_000n) - backWall;
        await waitFor('exactly one leader', () => run.cluster.leader() !== undefined, 5000);
        const leader = run.cluster.leader()!;
        const lost = run.cluster.replicas.filter((r, i) => r.logs.slice(marks[i]).some((l) => l.msg.startsWith('leadership lost')));
        t.diagnostic(
          `${outage.name}: server back after ${(backAt - downAt).toFixed(0)} ms; first run (slot ${iso(first.slot)} on ${first.node}) ${firstAfterMs} ms after that; ` +
            `leader ${leader.name}; leadership lost on: ${lost.map((r) => r.name).join(', ') || 'none'}`,
        );
        assert.ok(firstAfterMs <= RECOVERY_BOUND_MS, `${outage.name}: the first run started ${firstAfterMs} ms after the server was back`);
        assert.deepEqual(
          run.cluster.replicas.filter((r) => r.child.exitCode !== null).map((r) => `${r.name}: ${r.tail(5)}`),
          [],
          `${outage.name}: a replica exited`,
        );
        // Runs go on: three more after the first.
        await waitForRuns(run, (runs) => (runs.filter((r) => Number(r.startNs / 1_000_000n) > backWall).length >= 4 ? true : undefined), 10_000);
      }
      await assertInvariants(run, fromWall);
    } finally {
      await run.cluster.stop();
    }
  });

  it('server clock stepped +1 h, then −1 h (libfaketime): no takeover, no second leader; kill -9 of the leader while stepped back still fails over within TTL + 1.5 s', async (t) => {
    const run = await startRuns(target);
    try {
      const fromWall = Date.now();
      const leader = run.cluster.leader();
      assert.ok(leader, 'one replica leads before the steps');
      for (const offset of ['+1h', '-1h']) {
        const stepWall = Date.now();
        const steppedAt = performance.now();
        server.stepClock(offset);
        await waitFor(`3×TTL with the server clock at ${offset}`, () => performance.now() - steppedAt >= 3 * TTL_MS, 4 * TTL_MS);
        const terms = leadershipTerms(run.cluster.replicas);
        assert.deepEqual(
          terms.map((term) => [term.node, term.to]),
          [[leader.name, Number.POSITIVE_INFINITY]],
          `server clock ${offset}: leadership changed: ${JSON.stringify(terms)}\n${reaps(run.cluster.replicas).join('\n')}`,
        );
        assert.deepEqual(reaps(run.cluster.replicas), [], `server clock ${offset}: a live session was reaped`);
        const during = readStubbornRuns(run.ledger).filter((r) => r.slot > stepWall);
        assert.ok(during.length >= 2 * (TTL_MS / 1000), `server clock ${offset}: only ${during.length} runs in 3×TTL`);
        assert.ok(
          during.every((r) => r.node === leader.name),
          `server clock ${offset}: runs on another node: ${during.map((r) => r.node).join(',')}`,
        );
        t.diagnostic(`server clock ${offset}: ${leader.name} kept leading for 3×TTL, ${during.length} runs, no session reaped`);
      }

      // Stepped back by 1 h, every live session has renewed since (its expiry is in the new time).
      const killedAt = performance.now();
      const killedWall = Date.now();
      leader.signal('SIGKILL');
      const next = await run.cluster.nextLeader(TAKEOVER_BOUND_MS + 10_000, leader);
      const failoverMs = next.at - killedAt;
      t.diagnostic(`kill -9 of ${leader.name} with the server clock at −1 h: ${next.replica.name} led ${failoverMs.toFixed(0)} ms later`);
      assert.ok(failoverMs <= TAKEOVER_BOUND_MS, `failover took ${failoverMs.toFixed(0)} ms with the server clock stepped back`);
      await waitForRuns(run, (runs) => (runs.filter((r) => r.slot > killedWall && r.node === next.replica.name).length >= 2 ? true : undefined), 10_000);
      await assertInvariants(run, fromWall, new Map([[leader.name, killedWall]]));
    } finally {
      await run.cluster.stop();
    }
  });

  it("the reap statement deletes a session only by the renewal count it was given and only once the server's clock says it expired (or went back)", async (t) => {
    const cluster = uniqueCluster();
    const holder = await HolderClient.start({ config: pgConfig(server.url), cluster, ttlMs: TTL_MS });
    try {
      holder.send({ cmd: 'acquire', name: 'job' });
      await holder.next('acquired', 10_000);
      await waitFor('two renewals of the holder', async () => {
        const rows = await sql<{ renewals: string }>(server.url, 'SELECT renewals::text AS renewals FROM lockd.sessions WHERE cluster = $1', [cluster]);
        return BigInt(rows[0]?.renewals ?? 0) >= 2n;
      }, 5000, 50);
      // Frozen, the holder renews no more and its own reaper is stopped with it; nobody else watches.
      holder.freeze();
      const [session] = await sql<{ id: string; renewals: string }>(server.url, 'SELECT id::text AS id, renewals::text AS renewals FROM lockd.sessions WHERE cluster = $1', [
        cluster,
      ]);
      assert.ok(session, 'the holder has a session');
      const reap = async (renewals: bigint): Promise<boolean> =>
        (await sql<{ reaped: boolean }>(server.url, 'SELECT lockd.reap($1, $2, $3) AS reaped', [cluster, session.id, String(renewals)]))[0]!.reaped;
      const present = async (): Promise<number> =>
        (await sql<{ n: number }>(server.url, 'SELECT count(*)::int AS n FROM lockd.holders WHERE cluster = $1', [cluster]))[0]!.n;
      const renewals = BigInt(session.renewals);

      assert.equal(await reap(renewals), false, 'reaped although the server says the session has not expired');
      server.stepClock('+1h');
      assert.equal(await reap(renewals - 1n), false, 'reaped by a renewal count the session no longer has');
      assert.equal(await present(), 1, 'the holder row is still there');
      assert.equal(await reap(renewals), true, 'not reaped though silent and expired by the server clock');
      assert.equal(await present(), 0, 'the holder row went with its session');
      t.diagnostic(`reap: refused before the server expiry and with a stale count (${renewals - 1n}), done with the current count (${renewals})`);
    } finally {
      server.stepClock('+0');
      await holder.kill();
    }
  });

  it(
    'a holder frozen across a −1 h server clock step, then killed: another backend takes its lock within TTL + 1.5 s',
    async (t) => {
      const cluster = uniqueCluster();
      const holder = await HolderClient.start({ config: pgConfig(server.url), cluster, ttlMs: TTL_MS });
      const taker = await openBackend(server.url, cluster, 'taker');
      try {
        holder.send({ cmd: 'acquire', name: 'job' });
        await holder.next('acquired', 10_000);
        holder.freeze();
        server.stepClock('-1h');
        const killedAt = performance.now();
        await holder.kill();
        let acquired: { ms: number } | undefined;
        // Closing the taker ends a wait that never succeeds.
        void taker.acquire('job').then(
          () => (acquired = { ms: performance.now() - killedAt }),
          () => undefined,
        );
        await waitFor('the taker to acquire', () => acquired !== undefined || performance.now() - killedAt > TAKEOVER_BOUND_MS + 1000, TAKEOVER_BOUND_MS + 2000);
        const rows = await sql<{ remaining_s: number }>(
          server.url,
          `SELECT extract(epoch FROM expires_at - clock_timestamp())::float8 AS remaining_s FROM lockd.sessions WHERE cluster = $1 AND info->>'pid' <> $2`,
          [cluster, String(process.pid)],
        );
        t.diagnostic(
          `taker ${acquired ? `acquired after ${acquired.ms.toFixed(0)} ms` : `had not acquired ${TAKEOVER_BOUND_MS + 1000} ms after the kill`}; ` +
            `the dead holder's session expires in ${rows.map((r) => `${r.remaining_s.toFixed(0)} s`).join(', ') || '(gone)'} by the server's clock`,
        );
        assert.ok(acquired && acquired.ms <= TAKEOVER_BOUND_MS, 'the lock of a dead holder was not taken over within TTL + 1.5 s');
      } finally {
        server.stepClock('+0');
        await holder.kill();
        await taker.close();
      }
    },
  );

  it('a schema of version 1 is upgraded in place on open, through version 2 to 3: one backend then holds two seats of a set; locks work as before', async () => {
    const schema = 'lockd_upgrade';
    const config = { type: 'postgres' as const, url: server.url, schema };
    const options = { cluster: uniqueCluster(), node: 'n', ttlMs: TTL_MS, logger: pino({ level: 'silent' }) };
    await (await createBackend(config, options)).close();
    // Back to version 1 as it was: no hold column, one row per (cluster, name, session), the old
    // functions' signatures (their bodies do not matter: the upgrades replace or drop them).
    await sql(
      server.url,
      `ALTER TABLE ${schema}.holders DROP COLUMN hold;
       ALTER TABLE ${schema}.holders ADD CONSTRAINT holders_cluster_name_session_key UNIQUE (cluster, name, session);
       DROP FUNCTION ${schema}.enqueue(text, text, uuid, text, text, boolean, int);
       CREATE FUNCTION ${schema}.enqueue(p_cluster text, p_name text, p_session uuid, p_info text, p_only_if_free boolean, p_capacity int)
         RETURNS bigint LANGUAGE sql AS 'SELECT NULL::bigint';
       CREATE FUNCTION ${schema}.release(p_cluster text, p_session uuid, p_token bigint) RETURNS void LANGUAGE sql AS 'SELECT';
       UPDATE ${schema}.meta SET value = '1' WHERE key = 'schema_version';`,
    );
    const backend = await createBackend(config, options);
    try {
      const [version] = await sql<{ value: string }>(server.url, `SELECT value FROM ${schema}.meta WHERE key = 'schema_version'`);
      assert.equal(version?.value, '3');
      const one = await backend.acquireSeat('pool', 2);
      const two = await backend.tryAcquireSeat('pool', 2);
      assert.ok(two && two.token > one.token, 'the upgraded schema holds two seats of one session');
      const lock = await backend.tryAcquire('job');
      assert.ok(lock, 'a lock on the upgraded schema');
      const holds = await sql<{ hold: string }>(server.url, `SELECT hold FROM ${schema}.holders WHERE cluster = $1 ORDER BY token`, [options.cluster]);
      assert.deepEqual(holds.map((h) => h.hold === ''), [false, false, true], 'seat rows carry a hold, the lock row none');
    } finally {
      await backend.close();
    }
  });

  it('a schema of version 2 is upgraded to 3 on open: the release function is dropped, enqueue replaced; a lock is taken, released and taken again', async () => {
    const schema = 'lockd_upgrade2';
    const config = { type: 'postgres' as const, url: server.url, schema };
    const options = { cluster: uniqueCluster(), node: 'n', ttlMs: TTL_MS, logger: pino({ level: 'silent' }) };
    await (await createBackend(config, options)).close();
    // Back to version 2: its release function (the body does not matter: the upgrade drops it), and
    // an enqueue that answers nothing, so that only a replaced one can hand out a lock.
    await sql(
      server.url,
      `CREATE FUNCTION ${schema}.release(p_cluster text, p_session uuid, p_token bigint) RETURNS void LANGUAGE sql AS 'SELECT';
       CREATE OR REPLACE FUNCTION ${schema}.enqueue(p_cluster text, p_name text, p_session uuid, p_hold text, p_info text, p_only_if_free boolean, p_capacity int)
         RETURNS bigint LANGUAGE sql AS 'SELECT NULL::bigint';
       UPDATE ${schema}.meta SET value = '2' WHERE key = 'schema_version';`,
    );
    const backend = await createBackend(config, options);
    try {
      const [version] = await sql<{ value: string }>(server.url, `SELECT value FROM ${schema}.meta WHERE key = 'schema_version'`);
      assert.equal(version?.value, '3');
      const functions = await sql<{ proname: string }>(server.url, `SELECT proname FROM pg_proc WHERE pronamespace = $1::regnamespace AND proname = 'release'`, [schema]);
      assert.deepEqual(functions, [], 'the release function is gone');
      const first = await backend.tryAcquire('job');
      assert.ok(first, 'a lock on the upgraded schema');
      await first.release();
      const second = await backend.tryAcquire('job');
      assert.ok(second && second.token > first.token, 'the released lock is free again, with a greater token');
    } finally {
      await backend.close();
    }
  });

  it("a session reaped between enqueue's check and its insert (the foreign key fails): the lock call sees its session lost and takes the lock in a new session", async () => {
    const schema = 'lockd_fk_race';
    const config = { type: 'postgres' as const, url: server.url, schema };
    const options = { cluster: uniqueCluster(), node: 'n', ttlMs: TTL_MS, logger: pino({ level: 'silent' }) };
    const backend = await createBackend(config, options);
    try {
      const warm = await backend.tryAcquire('warm');
      assert.ok(warm, 'a first lock opens the session');
      // Once (a sequence: not rolled back with the failed call), a trigger deletes the inserting
      // session right before the insert of a 'lock/job' row, so that the foreign key fails.
      await sql(
        server.url,
        `CREATE SEQUENCE ${schema}.fired;
         CREATE FUNCTION ${schema}.reap_now() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.name = 'lock/job' AND nextval('${schema}.fired') = 1 THEN
             DELETE FROM ${schema}.sessions WHERE id = NEW.session;
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER reap_now BEFORE INSERT ON ${schema}.holders FOR EACH ROW EXECUTE FUNCTION ${schema}.reap_now();`,
      );
      const lock = await backend.tryAcquire('job');
      assert.ok(lock, 'the lock, taken in a new session');
      assert.ok(warm.signal.aborted, 'the first session is known lost');
      assert.notEqual(lock.sessionId, warm.sessionId);
    } finally {
      await backend.close();
    }
  });

  it('a hot standby is refused: createBackend rejects with BackendStorageError "hot standby"; lockd run and lockd status exit non-zero with that message, no stack trace', async (t) => {
    const standby = await startPostgresStandby(server);
    try {
      const err = await createBackend(pgConfig(standby.url), { cluster: uniqueCluster(), ttlMs: 2000, logger: pino({ level: 'silent' }) }).then(
        async (backend) => {
          await backend.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      assert.ok(err instanceof BackendStorageError, `expected BackendStorageError, got ${String(err)}`);
      assert.match(err.message, /hot standby/);
      const cluster = new LockdCluster({ ...target, backendYaml: () => `  type: postgres\n  url: ${standby.url}\n  schema: lockd` }, { ttl: '2s' });
      try {
        const config = cluster.writeConfig('a', ['  ledger:', `    schedule: "${SCHEDULE}"`, '    run: "true"'].join('\n'));
        for (const args of [['run'], ['status']]) {
          const res = await runLockd([...args, '-c', config], { timeoutMs: 30_000 });
          const out = `${res.stdout}${res.stderr}`;
          assert.notEqual(res.code, 0, `lockd ${args[0]} against a standby exited 0:\n${out}`);
          assert.notEqual(res.code, null, `lockd ${args[0]} against a standby did not exit within 30 s:\n${out}`);
          assert.match(out, /hot standby/, `lockd ${args[0]}: ${out}`);
          assert.doesNotMatch(out, /\n\s+at |\\n\s+at /, `lockd ${args[0]} printed a stack trace:\n${out}`);
          t.diagnostic(`lockd ${args[0]} → exit ${res.code}: ${res.stderr.trim().split('\n').at(-1)}`);
        }
      } finally {
        await cluster.stop();
      }
    } finally {
      await standby.stop();
    }
  });

  it('connections say lockd/<cluster>/<node> in pg_stat_activity, and the server cancels a blocked statement by its own lock timeout, below the fencing margin', async (t) => {
    const cluster = uniqueCluster();
    const backend = await openBackend(server.url, cluster, 'n1', 2000);
    const admin = await connect(server.url);
    try {
      const lease = await backend.acquire('job');
      await backend.put('k', 'v');
      const rows = await admin.query<{ application_name: string; state: string }>(
        `SELECT application_name, state FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      );
      const names = rows.rows.map((r) => r.application_name);
      // Renewals, the reaper and at least one statement connection (LISTEN only while someone waits).
      assert.ok(names.length >= 3, `expected at least 3 connections of the backend, found ${JSON.stringify(rows.rows)}`);
      // Nothing else is connected now: every client connection is one of the backend's.
      assert.deepEqual([...new Set(names)], [`lockd/${cluster}/n1`], JSON.stringify(rows.rows));
      t.diagnostic(`${names.length} connections named lockd/${cluster}/n1`);

      // A row lock the backend's next write needs, held by another session: the server's
      // lock_timeout (fencing margin / 2, 250 ms at TTL 2 s) cancels it, not lockd's deadline (1 s).
      await admin.query('BEGIN');
      await admin.query('SELECT 1 FROM lockd.kv WHERE cluster = $1 AND key = $2 FOR UPDATE', [cluster, 'k']);
      const startedAt = performance.now();
      const err = await backend.put('k', 'w').then(
        () => undefined,
        (e: unknown) => e,
      );
      const tookMs = performance.now() - startedAt;
      await admin.query('ROLLBACK');
      assert.ok(err instanceof BackendUnavailableError, `expected BackendUnavailableError, got ${String(err)}`);
      assert.match(err.message, /lock timeout/, 'cancelled by the server, not by lockd');
      const marginMs = 500;
      assert.ok(tookMs < marginMs, `the blocked write took ${tookMs.toFixed(0)} ms (fencing margin ${marginMs} ms)`);
      t.diagnostic(`blocked write cancelled by the server after ${tookMs.toFixed(0)} ms: ${err.message}`);
      assert.ok(lease.isValid(), 'the lease survived');
      assert.equal(await backend.get('k'), 'v');
    } finally {
      await admin.end();
      await backend.close();
    }
  });

  it('a guarded write whose reply is lost after the commit: BackendUnavailableError within the deadline, the row committed; settledPut settles it to "written", written once', async (t) => {
    const proxy = await FaultProxy.start({ host: server.host, port: server.port });
    const cluster = uniqueCluster();
    const logs: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
    const backend = await createBackend(
      { type: 'postgres', url: `postgres://lockd@${proxy.endpoint}/lockd`, schema: 'lockd' },
      { cluster, node: 'writer', ttlMs: TTL_MS, logger },
    );
    const statementDeadlineMs = TTL_MS / 2;
    try {
      const lease = await backend.acquire('job');
      for (const verdict of ['drop', 'reset'] as const) {
        // Direct guardedPut: the reply is lost, the call rejects within its deadline.
        const key = `direct-${verdict}`;
        const cut = loseReplyTo(proxy, key, verdict);
        const startedAt = performance.now();
        const err = await backend.guardedPut(lease, key, 'ours').then(
          () => undefined,
          (e: unknown) => e,
        );
        const tookMs = performance.now() - startedAt;
        proxy.intercept = undefined;
        assert.ok(cut.lost, `${verdict}: the proxy never saw the reply of the write`);
        assert.ok(err instanceof BackendUnavailableError, `${verdict}: expected BackendUnavailableError, got ${String(err)}`);
        assert.ok(tookMs <= statementDeadlineMs + 500, `${verdict}: the write took ${tookMs.toFixed(0)} ms (deadline ${statementDeadlineMs} ms)`);
        const stored = await kvRow(server.url, cluster, key);
        assert.equal(stored?.value, 'ours', `${verdict}: the write was not committed, so the reply-lost case did not happen`);
        t.diagnostic(`${verdict} of the reply: guardedPut rejected after ${tookMs.toFixed(0)} ms (${err.message}); the row is in the table`);

        // settledPut, the scheduler's record write: its first attempt's reply is lost.
        const recordKey = `record-${verdict}`;
        const mark = logs.length;
        const recordCut = loseReplyTo(proxy, recordKey, verdict);
        let revAtCommit: Promise<string | undefined> | undefined;
        recordCut.onLost = () => {
          revAtCommit = kvRow(server.url, cluster, recordKey).then((r) => r?.rev);
        };
        const settled = await settledPut({ backend, clock: systemClock, logger }, lease, recordKey, 'ours', { ifAbsent: true });
        proxy.intercept = undefined;
        assert.ok(recordCut.lost, `${verdict}: the reply of the record write was never cut`);
        assert.equal(settled, 'written', `${verdict}: settledPut called our own lost-reply write "${settled}"`);
        assert.ok(
          logs.slice(mark).some((l) => l.includes('record write not confirmed; settling it')),
          `${verdict}: settledPut did not see the write fail`,
        );
        const row = await kvRow(server.url, cluster, recordKey);
        assert.equal(row?.value, 'ours');
        assert.equal(row?.rev, await revAtCommit, `${verdict}: the record was written again after the lost reply`);
        t.diagnostic(`${verdict}: settledPut → ${settled}, the row written once (rev ${row?.rev})`);
      }
      assert.ok(lease.isValid(), 'the lease survived the lost replies');
    } finally {
      proxy.intercept = undefined;
      await backend.close();
      await proxy.close();
    }
  });

  it('SIGSTOP of a holder process mid-write: another backend takes the lock within TTL + 1.5 s; a third one writes meanwhile without delay; the frozen one holds no locks', async (t) => {
    const cluster = uniqueCluster();
    // The holder reaches the server through a proxy, which freezes it the moment its guarded
    // write has gone to the server: it is stopped with the statement on the way, its reply unread.
    const proxy = await FaultProxy.start({ host: server.host, port: server.port });
    const holder = await HolderClient.start({ config: pgConfig(`postgres://lockd@${proxy.endpoint}/lockd`), cluster, ttlMs: TTL_MS });
    const taker = await openBackend(server.url, cluster, 'taker');
    const writer = await openBackend(server.url, cluster, 'writer');
    const admin = await connect(server.url);
    try {
      holder.send({ cmd: 'acquire', name: 'job' });
      const { token } = await holder.next('acquired', 10_000);
      await writer.put('w', 'warm');
      let frozenAt: number | undefined;
      proxy.intercept = (chunk, from) => {
        if (frozenAt === undefined && from.toServer && chunk.includes('guarded_put') && chunk.includes('held')) {
          holder.freeze();
          frozenAt = performance.now();
        }
        return 'pass';
      };
      holder.send({ cmd: 'guardedPut', name: 'job', key: 'held', value: 'v' });
      await waitFor('the holder to send its write', () => frozenAt !== undefined, 5000, 5);
      const frozenAtMs = frozenAt!;
      // The statement reached the server and committed: a single statement holds nothing after it.
      await waitFor('the frozen write to commit', async () => (await kvRow(server.url, cluster, 'held'))?.value === 'v', 2000);

      const latencies: number[] = [];
      let taken: { lease: Lease; ms: number } | undefined;
      const take = taker.acquire('job').then((lease) => {
        taken = { lease, ms: performance.now() - frozenAtMs };
      });
      for (let i = 0; taken === undefined && performance.now() - frozenAtMs < TAKEOVER_BOUND_MS + 5000; i++) {
        const startedAt = performance.now();
        await writer.put(`w${i % 10}`, String(i));
        latencies.push(performance.now() - startedAt);
        // Paced, so that the writes measure the server rather than load this machine.
        await delay(25);
      }
      await take;
      assert.ok(taken, 'the lock was not taken over');
      assert.ok(BigInt(taken.lease.token) > BigInt(token), 'the new holder has a larger token');

      // The frozen holder's connections: idle (not inside a transaction) and holding no locks.
      const frozen = await admin.query<{ pid: number; state: string; locks: string }>(
        `SELECT a.pid, a.state, coalesce(string_agg(l.locktype || ':' || l.mode, ','), '') AS locks
         FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype <> 'virtualxid'
         WHERE a.application_name = $1 GROUP BY a.pid, a.state`,
        [`lockd/${cluster}/client`],
      );
      const maxLatency = Math.max(...latencies);
      t.diagnostic(
        `takeover after ${taken.ms.toFixed(0)} ms; ${latencies.length} writes meanwhile, max ${maxLatency.toFixed(0)} ms; ` +
          `frozen holder's connections: ${frozen.rows.map((r) => `${r.pid} ${r.state} [${r.locks}]`).join('; ')}`,
      );
      assert.ok(taken.ms <= TAKEOVER_BOUND_MS, `takeover took ${taken.ms.toFixed(0)} ms`);
      assert.ok(latencies.length >= 5, 'too few writes to judge');
      assert.ok(maxLatency <= 500, `a write took ${maxLatency.toFixed(0)} ms while the holder was frozen`);
      assert.ok(frozen.rows.length > 0, 'the frozen holder has no connections to look at');
      for (const row of frozen.rows) {
        assert.notEqual(row.state, 'idle in transaction', `connection ${row.pid} of the frozen holder sits in a transaction`);
        assert.equal(row.locks, '', `connection ${row.pid} of the frozen holder holds locks`);
      }

      // Resumed, the holder learns it lost the lock: nothing of it is valid any more.
      holder.thaw();
      const aborted = await holder.next('aborted', 5000);
      assert.equal(aborted.valid, false);
      assert.ok(taken.lease.isValid(), 'the new holder still holds');
    } finally {
      proxy.intercept = undefined;
      holder.thaw();
      await holder.kill();
      await admin.end();
      await taker.close();
      await writer.close();
      await proxy.close();
    }
  });

  /** A fresh cluster name (rows of different clusters never meet). */
  function uniqueCluster(): string {
    return `f${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  }
});

function pgConfig(url: string): { type: 'postgres'; url: string; schema: string } {
  return { type: 'postgres', url, schema: 'lockd' };
}

function openBackend(url: string, cluster: string, node: string, ttlMs = TTL_MS): Promise<Backend> {
  return createBackend(pgConfig(url), { cluster, node, ttlMs, logger: pino({ level: 'silent' }) });
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'test-admin' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = await connect(url);
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function kvRow(url: string, cluster: string, key: string): Promise<{ value: string; rev: string } | undefined> {
  const [row] = await sql<{ value: string; rev: string }>(url, 'SELECT value, rev::text AS rev FROM lockd.kv WHERE cluster = $1 AND key = $2', [cluster, key]);
  return row;
}

/**
 * Arms `proxy` to lose the reply of the first statement that names `key`: the statement goes to
 * the server, and what comes back on that connection is dropped (or reset with RST), so the
 * client never learns that it committed. `lost` says it happened.
 */
function loseReplyTo(proxy: FaultProxy, key: string, verdict: 'drop' | 'reset'): { lost: boolean; onLost?: () => void } {
  const state: { lost: boolean; onLost?: () => void } = { lost: false };
  let connection: number | undefined;
  proxy.intercept = (chunk: Buffer, from: ChunkSource): ChunkVerdict => {
    if (connection === undefined && from.toServer && chunk.includes(key) && chunk.includes('guarded_put')) {
      connection = from.connection;
      return 'pass';
    }
    if (connection !== undefined && from.connection === connection && !from.toServer) {
      if (!state.lost) {
        state.lost = true;
        state.onLost?.();
      }
      return verdict;
    }
    return 'pass';
  };
  return state;
}

/** Three `lockd run` replicas whose job (every second) ignores SIGTERM and lives 0.3 s. */
async function startRuns(target: ProcessBackendTarget): Promise<LedgerRun> {
  const cluster = new LockdCluster(target, { ttl: `${TTL_MS / 1000}s` });
  const ledger = cluster.file('ledger');
  const job = ['  ledger:', `    schedule: "${SCHEDULE}"`, `    run: ${JSON.stringify(stubbornJobCommand(ledger, { maxSeconds: 0.3 }))}`].join('\n');
  const run = { cluster, ledger, config: cluster.file('a.yaml') };
  try {
    for (const node of ['a', 'b', 'c']) cluster.start(node, job);
    await cluster.nextLeader(20_000);
    await waitForRuns(run, (runs) => (runs.length >= 2 ? true : undefined), 15_000);
    return run;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** Polls the ledger (a file announces nothing) until `pick` finds something in its runs. */
async function waitForRuns<T>(run: LedgerRun, pick: (runs: StubbornRun[]) => T | undefined, timeoutMs: number): Promise<T> {
  let found: T | undefined;
  await waitFor(
    'runs in the ledger',
    () => {
      found = pick(readStubbornRuns(run.ledger));
      return found !== undefined;
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; ledger:\n${readStubbornRuns(run.ledger).map((r) => `${iso(r.slot)} ${r.token} ${r.node}`).join('\n')}`);
  });
  return found as T;
}

/**
 * The four promises: no slot twice, tokens strictly increasing in slot order, no process of a
 * run alive when another starts (assertRunsNeverOverlap), every slot from `fromWall` on
 * accounted for; and never two leaders at once.
 */
async function assertInvariants(run: LedgerRun, fromWall: number, killedAt?: Map<string, number>): Promise<void> {
  const runs = readStubbornRuns(run.ledger);
  assertRunsNeverOverlap(runs);
  const records = await ledgerHistory(run);
  const from = Math.floor(fromWall / 1000) * 1000 + 1000;
  assertSlotsAccounted({ schedule: SCHEDULE, ledger: runs, records, from, to: Math.max(...runs.map((r) => r.slot)) });
  assert.deepEqual(overlappingTerms(leadershipTerms(run.cluster.replicas), killedAt), [], 'two leaders at once');
}

/** Every reap any replica's reaper logged, as `replica: session`. */
function reaps(replicas: LockdProcess[]): string[] {
  return replicas.flatMap((r) => r.logs.filter((l) => l.msg.startsWith('reaped a session')).map((l) => `${r.name}: ${String(l.session)}`));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
