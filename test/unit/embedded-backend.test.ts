import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import type { Backend, CandidateInfo, SessionWatch } from '../../src/election/backend.js';
import { waitForAbort } from '../../src/abort.js';
import { createEmbeddedBackend, type EmbeddedTuning } from '../../src/election/embedded/embedded-backend.js';
import { monotonicMs } from '../../src/clock.js';
import { readBootId } from '../../src/election/embedded/boot-id.js';
import { LeadershipLostError, UsageError } from '../../src/errors.js';
import { waitFor } from '../helpers/wait-for.js';

const TTL_MS = 1500;

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A pino logger whose JSON lines a test can read and wait for. */
function recordingLogger(): { logger: pino.Logger; lines: LogLine[]; next: (msg: string) => Promise<LogLine> } {
  const lines: LogLine[] = [];
  const waiters: Array<() => void> = [];
  let seen = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as LogLine);
      for (const wake of waiters.splice(0)) wake();
      done();
    },
  });
  const next = async (msg: string): Promise<LogLine> => {
    for (;;) {
      const index = lines.findIndex((l, i) => i >= seen && l.msg === msg);
      if (index >= 0) {
        seen = index + 1;
        return lines[index]!;
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { logger: pino({ level: 'debug' }, sink), lines, next };
}

function who(node: string): CandidateInfo {
  return { node, host: 'unit', pid: process.pid, since: new Date().toISOString() };
}

describe('embedded backend (in one process, real SQLite files)', () => {
  let dir = '';
  let n = 0;
  let opened: Backend[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockd-embedded-unit-'));
  });
  afterEach(async () => {
    await Promise.all(opened.map((b) => b.close()));
    opened = [];
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh database file per test; `open` opens backends on it. */
  function database(): {
    file: string;
    open: (opts?: { cluster?: string; logger?: pino.Logger; ttlMs?: number; tuning?: EmbeddedTuning; sessionWatch?: SessionWatch }) => Promise<Backend>;
  } {
    const file = join(dir, `unit-${++n}.db`);
    return {
      file,
      open: async (opts = {}) => {
        const backend = await createEmbeddedBackend(
          { type: 'embedded', path: file },
          {
            cluster: opts.cluster ?? 'unit',
            ttlMs: opts.ttlMs ?? TTL_MS,
            logger: opts.logger ?? pino({ level: 'silent' }),
            ...(opts.sessionWatch === undefined ? {} : { sessionWatch: opts.sessionWatch }),
          },
          opts.tuning,
        );
        opened.push(backend);
        return backend;
      },
    };
  }

  it('rows of another boot, and rows past their expiry, are dead: ignored by readers, reaped by the next write', async () => {
    const { file, open } = database();
    const a = await open();
    const raw = new Database(file);
    const ghost = raw.transaction((session: string, boot: string, expires: number) => {
      const token = raw.prepare("UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value").pluck().get() as number;
      raw.prepare('INSERT INTO sessions (id, boot_id, expires, info) VALUES (?, ?, ?, ?)').run(session, boot, expires, '{}');
      raw
        .prepare("INSERT INTO holders (token, cluster, name, session, info, created) VALUES (?, 'unit', 'leader', ?, ?, '')")
        .run(token, session, JSON.stringify(who(session)));
    });
    // Far in the future, but of an earlier boot: CLOCK_MONOTONIC restarted since.
    ghost('previous-boot', 'another-boot-id', Math.floor(monotonicMs()) + 3_600_000);
    ghost('expired', readBootId(), Math.floor(monotonicMs()) - 1);
    assert.deepEqual(await a.observe(), { leader: null, candidates: [] });
    const lease = await a.campaign(who('a'), { signal: AbortSignal.timeout(1000) });
    assert.equal(lease.token, 3n, 'tokens continue after the dead rows');
    assert.equal(raw.prepare("SELECT count(*) FROM sessions WHERE id IN ('previous-boot', 'expired')").pluck().get(), 0);
    assert.equal(raw.prepare("SELECT count(*) FROM holders WHERE session IN ('previous-boot', 'expired')").pluck().get(), 0);
    raw.close();
  });

  it('the election and a lock named "leader" are different things; clusters share nothing', async () => {
    const { open } = database();
    const a = await open();
    const b = await open();
    const otherCluster = await open({ cluster: 'elsewhere' });
    const leadership = await a.campaign(who('a'));
    const lock = await b.tryAcquire('leader');
    assert.ok(lock, 'a lock called leader is not the election');
    assert.equal(lock.name, 'leader');
    assert.equal((await b.observe()).leader?.node, 'a');
    assert.ok(await otherCluster.tryAcquire('leader'));
    assert.equal((await otherCluster.observe()).leader, null);
    await a.put('jobs/x', 'mine');
    assert.equal(await otherCluster.get('jobs/x'), undefined);
    assert.deepEqual(await otherCluster.list(''), []);
    assert.ok(leadership.isValid());
  });

  it('list matches exactly the keys under a prefix, whatever its last character', async () => {
    const { open } = database();
    const a = await open();
    for (const key of ['a/', 'a/b', 'a0', 'a', 'a/\uffff', 'a/😀', 'p\uffff1', 'p\uffff2', 'q', 'p😀x', 'p😁']) await a.put(key, key);
    assert.deepEqual((await a.list('a/')).map((kv) => kv.key), ['a/', 'a/b', 'a/\uffff', 'a/😀']);
    assert.deepEqual((await a.list('p\uffff')).map((kv) => kv.key), ['p\uffff1', 'p\uffff2']);
    assert.deepEqual((await a.list('p😀')).map((kv) => kv.key), ['p😀x']);
    assert.equal((await a.list('')).length, 11);
  });

  it('guardedPut refuses a lease of another backend, and fences a lease whose row vanished', async () => {
    const { file, open } = database();
    const a = await open();
    const b = await open();
    const foreign = await b.acquire('other');
    await assert.rejects(a.guardedPut(foreign, 'k', 'v'), UsageError);
    const leader = await a.campaign(who('a'));
    const lock = await a.acquire('job');
    const raw = new Database(file);
    raw.prepare('DELETE FROM holders WHERE token = ?').run(lock.token);
    raw.close();
    await assert.rejects(a.guardedPut([leader, lock], 'runs/job/1', 'v'), (err) => {
      assert.ok(err instanceof LeadershipLostError);
      assert.match(err.message, /lock "job" \(token \d+\) is no longer held/);
      return true;
    });
    assert.equal(lock.signal.aborted, true);
    assert.ok(lock.signal.reason instanceof LeadershipLostError);
    assert.equal(await a.get('runs/job/1'), undefined);
    assert.equal(leader.isValid(), true, 'the other guard is unaffected');
    assert.equal(await a.guardedPut(leader, 'runs/job/1', 'v'), true);
    const again = await a.tryAcquire('job');
    assert.ok(again, 'the lost lock frees its name on this backend');
  });

  it('a session reaped behind our back aborts every lease at the next heartbeat; the next acquire opens a new session', async () => {
    const { file, open } = database();
    const a = await open();
    const leader = await a.campaign(who('a'));
    const lock = await a.acquire('job');
    const raw = new Database(file);
    // What another process's reaper does once our session expired during a pause.
    raw.exec('DELETE FROM holders; DELETE FROM sessions;');
    raw.close();
    await Promise.all([leader, lock].map((l) => new Promise((resolve) => l.signal.addEventListener('abort', resolve, { once: true }))));
    assert.match((leader.signal.reason as Error).message, /session lost: its row expired in the database/);
    assert.equal(leader.isValid(), false);
    assert.equal(lock.remainingMs(), 0);
    await leader.release();
    const again = await a.campaign(who('a'), { signal: AbortSignal.timeout(2000) });
    assert.ok(again.token > lock.token);
    assert.equal((await a.observe()).leader?.token, again.token);
  });

  it('a waiting candidate whose session is lost queues again in a new session and still wins', async () => {
    const { file, open } = database();
    const { logger, next } = recordingLogger();
    const a = await open();
    const b = await open({ logger });
    const first = await a.campaign(who('a'));
    const waiting = b.campaign(who('b'), { signal: AbortSignal.timeout(10_000) });
    await waitFor('b queued', async () => (await a.observe()).candidates.length === 2);
    const raw = new Database(file);
    const bSession = raw.prepare('SELECT session FROM holders ORDER BY token DESC LIMIT 1').pluck().get() as string;
    raw.prepare('DELETE FROM holders WHERE session = ?').run(bSession);
    raw.prepare('DELETE FROM sessions WHERE id = ?').run(bSession);
    raw.close();
    await next('session lost while waiting; queueing again in a new session');
    await waitFor('b queued again', async () => (await a.observe()).candidates.length === 2);
    await first.release();
    const lease = await waiting;
    assert.ok(lease.token > first.token);
    assert.equal((await a.observe()).leader?.node, 'b');
  });

  it('after a pause longer than the TTL the lease is invalid at once, cannot write, and another backend takes over', async () => {
    const { open } = database();
    const a = await open();
    const b = await open();
    const lease = await a.acquire('job');
    assert.equal(await b.tryAcquire('job'), null);
    // Freeze the whole thread (as SIGSTOP would): no timer runs, no heartbeat is sent.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, TTL_MS + 200);
    assert.equal(lease.isValid(), false, 'the synchronous check must not wait for the abort timer');
    assert.ok(lease.remainingMs() <= 0);
    await assert.rejects(a.guardedPut(lease, 'runs/job/1', 'stale'), LeadershipLostError);
    assert.equal(lease.signal.aborted, true);
    const taken = await b.tryAcquire('job');
    assert.ok(taken, 'the expired session must be reaped by the next write');
    assert.ok(taken.token > lease.token);
    assert.equal(await a.tryAcquire('job'), null, 'the paused backend must not get the lock back');
    assert.equal(await b.guardedPut(taken, 'runs/job/1', 'fresh'), true);
  });

  it('a session that stopped vouching keeps its rows until the SessionWatch reports its runs gone, then frees them before their expiry', async () => {
    const { open } = database();
    const watched: string[] = [];
    let runsGone: () => void = () => undefined;
    const sessionWatch: SessionWatch = {
      renewed: (id, killBy) => void watched.push(`renewed ${id} ${Math.round(killBy - monotonicMs())}`),
      lost: (id) => {
        watched.push(`lost ${id}`);
        return new Promise((resolve) => (runsGone = resolve));
      },
    };
    const a = await open({ ttlMs: 2000, sessionWatch });
    const b = await open({ ttlMs: 2000 });
    const lease = await a.acquire('job');
    assert.match(watched[0]!, new RegExp(`^renewed ${lease.sessionId} 1[56]\\d\\d$`), 'the kill deadline is TTL − margin after the renewal');
    // Starve the event loop past the vouched time (TTL − margin − loss grace = 1.2 s) but not past the row's expiry (2 s).
    const until = monotonicMs() + 1300;
    while (monotonicMs() < until);
    await waitForAbort(lease.signal);
    const reason = lease.signal.reason as LeadershipLostError;
    assert.ok(reason.killBy !== undefined && reason.killBy > monotonicMs(), 'the kill deadline is still ahead: runs get a grace');
    assert.deepEqual(watched.at(-1), `lost ${lease.sessionId}`);
    assert.equal(await b.tryAcquire('job'), null, 'the row stays while runs of the session may be alive');
    runsGone();
    await waitFor('the row to be deleted', async () => {
      const taken = await b.tryAcquire('job');
      await taken?.release();
      return taken !== null;
    }, 500, 10);
  });

  it('heartbeats keep a lease for many TTLs; a wall-clock step changes nothing', async (t) => {
    const { open } = database();
    const { logger, next } = recordingLogger();
    const a = await open({ logger, ttlMs: 600 });
    const b = await open({ ttlMs: 600 });
    const lease = await a.acquire('job');
    const started = monotonicMs();
    const realNow = Date.now.bind(Date);
    t.mock.method(Date, 'now', () => realNow() + 10 * 3_600_000);
    while (monotonicMs() - started < 1.5 * 600) await next('heartbeat');
    t.mock.method(Date, 'now', () => realNow() - 10 * 3_600_000);
    while (monotonicMs() - started < 3 * 600) await next('heartbeat');
    assert.equal(lease.isValid(), true);
    assert.equal(lease.signal.aborted, false);
    assert.equal(await b.tryAcquire('job'), null);
  });

  it('a release that fails (busy database) never throws; the next heartbeat deletes the row', async () => {
    const { file, open } = database();
    const { logger, next } = recordingLogger();
    const a = await open({ logger, tuning: { busyTimeoutMs: 50 } });
    const b = await open();
    const lease = await a.acquire('job');
    const raw = new Database(file);
    raw.exec('BEGIN EXCLUSIVE');
    await lease.release();
    assert.equal(lease.signal.aborted, true);
    await next('could not delete a row; the next heartbeat retries');
    raw.exec('COMMIT');
    raw.close();
    assert.equal(await b.tryAcquire('job'), null, 'the row is still there until the heartbeat');
    const taken = await b.acquire('job', { signal: AbortSignal.timeout(TTL_MS) });
    assert.ok(taken.token > lease.token);
    assert.ok(await a.tryAcquire('other'), 'the session survived');
  });

  it('watchPrefix fires for writes and deletes under its prefix, by anyone, and for nothing else', async () => {
    const { open } = database();
    const a = await open();
    const b = await open();
    let watched = 0;
    let sentinel = 0;
    const stop = b.watchPrefix('requests/', () => watched++);
    b.watchPrefix('other/', () => sentinel++);
    await a.put('other/x', '1');
    await waitFor('the sentinel to see other/x', () => sentinel === 1);
    assert.equal(watched, 0, 'a write under another prefix must not fire');
    await a.put('requests/x', '1');
    await waitFor('a put by another backend', () => watched === 1);
    await b.put('requests/x', '2');
    await waitFor('an overwrite by the watching backend itself', () => watched === 2);
    await a.delete('requests/x');
    await waitFor('a delete', () => watched === 3);
    stop();
    await a.put('requests/y', '1');
    await a.put('other/y', '1');
    await waitFor('the sentinel to see other/y', () => sentinel === 2);
    assert.equal(watched, 3, 'no call after unsubscribing');
  });

  it('health reports the session deadline; logs name acquisitions at info and heartbeats at debug; close ends everything', async () => {
    const { open } = database();
    const { logger, lines, next } = recordingLogger();
    const a = await open({ logger });
    assert.deepEqual(a.health(), { up: true });
    const lease = await a.campaign(who('a'));
    const health = a.health();
    assert.equal(health.up, true);
    assert.ok(health.sessionRemainingMs! > 0 && health.sessionRemainingMs! <= TTL_MS);
    const elected = await next('elected leader');
    assert.deepEqual(
      { level: elected.level, component: elected.component, backend: elected.backend, name: elected.name, token: elected.token, node: elected.node },
      { level: 30, component: 'election', backend: 'embedded', name: 'leader', token: String(lease.token), node: 'a' },
    );
    assert.equal((await next('heartbeat')).level, 20);
    await a.close();
    await a.close();
    assert.equal(lease.signal.aborted, true);
    assert.deepEqual(a.health(), { up: false, reason: 'closed' });
    await assert.rejects(a.get('x'), UsageError);
    await assert.rejects(a.campaign(who('a')), UsageError);
    assert.ok(lines.some((l) => l.msg === 'leadership ended' && l.level === 30));
  });
});
