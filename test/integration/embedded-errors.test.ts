import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import type { Lease } from '../../src/election/backend.js';
import { createEmbeddedBackend, type EmbeddedTuning } from '../../src/election/embedded/embedded-backend.js';
import { BackendStorageError, BackendUnavailableError, LeadershipLostError } from '../../src/errors.js';
import type { ChildEvent } from './embedded-child.js';

const childScript = fileURLToPath(new URL('./embedded-child.ts', import.meta.url));
const silent = pino({ level: 'silent' });

function open(path: string, tuning?: EmbeddedTuning, logger = silent, ttlMs = 1500) {
  return createEmbeddedBackend({ type: 'embedded', path }, { cluster: 'errors', ttlMs, logger }, tuning);
}

/** Asserts `promise` rejects with a `BackendStorageError` whose message is exactly `message` or matches it. */
async function rejectsStorage(promise: Promise<unknown>, message: string | RegExp): Promise<void> {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof BackendStorageError, `expected BackendStorageError, got ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    assert.doesNotMatch(err.message, /\n\s+at /, 'no stack trace in the message');
    return true;
  });
}

/** A pino logger whose JSON lines a test can wait for. */
function recordingLogger(): { logger: pino.Logger; next: (msg: string) => Promise<Record<string, unknown>> } {
  const lines: Record<string, unknown>[] = [];
  const waiters: Array<() => void> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      for (const wake of waiters.splice(0)) wake();
      done();
    },
  });
  const next = async (msg: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const index = lines.findIndex((l) => l.msg === msg);
      if (index >= 0) return lines.splice(0, index + 1).at(-1)!;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { logger: pino({ level: 'debug' }, sink), next };
}

describe('embedded backend: unusable database files', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockd-embedded-errors-'));
    // Let the unprivileged child below reach its subdirectory.
    chmodSync(dir, 0o755);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a missing directory is named, with the path, and nothing is created', async () => {
    const file = join(dir, 'missing', 'lockd.db');
    await rejectsStorage(open(file), `embedded backend: directory ${join(dir, 'missing')} does not exist (path: ${file})`);
    assert.equal(existsSync(join(dir, 'missing')), false);
    // A relative path is resolved against the working directory, and reported absolute.
    await rejectsStorage(open(relative(process.cwd(), file)), `embedded backend: directory ${join(dir, 'missing')} does not exist (path: ${file})`);
  });

  it('a path that is a directory is refused', async () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    await rejectsStorage(open(sub), `embedded backend: ${sub} is not a regular file`);
  });

  // Root ignores mode bits, so a 0444 file would be writable to a root lockd; the backend honours
  // the bits itself (no write bit at all = read-only, for root too). That policy is what this
  // in-process test checks, running as root or not.
  it('a read-only (0444) database file is refused as read-only and left untouched', async () => {
    const file = join(dir, 'readonly.db');
    await (await open(file)).close();
    const before = readFileSync(file);
    chmodSync(file, 0o444);
    await rejectsStorage(open(file), `embedded backend: database ${file} is read-only`);
    assert.deepEqual(readFileSync(file), before);
    assert.equal(existsSync(`${file}-wal`), false);
  });

  // The operating system's own refusal, as a user the permission bits really bind: as root the
  // child runs as nobody (uid 65534) on a root-owned 0644 file; otherwise as ourselves on a 0444 one.
  it('a database file the user may not write is refused as read-only (checked in a process bound by permissions)', async () => {
    const sub = join(dir, 'not-mine');
    mkdirSync(sub);
    chmodSync(sub, 0o777);
    const file = join(sub, 'lockd.db');
    await (await open(file)).close();
    const asRoot = process.getuid?.() === 0;
    chmodSync(file, asRoot ? 0o644 : 0o444);
    if (asRoot) chownSync(file, 0, 0);
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, JSON.stringify({ mode: 'open', path: file })], {
      stdio: ['ignore', 'pipe', 'inherit'],
      ...(asRoot && { uid: 65534, gid: 65534 }),
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await once(child, 'exit');
    assert.deepEqual(JSON.parse(out) as ChildEvent, {
      event: 'error',
      name: 'BackendStorageError',
      message: `embedded backend: database ${file} is read-only`,
    });
  });

  it('a read-only directory is refused: SQLite must create the -wal and -shm files', async () => {
    const sub = join(dir, 'readonly-dir');
    mkdirSync(sub, { mode: 0o555 });
    const file = join(sub, 'lockd.db');
    await rejectsStorage(open(file), new RegExp(`^embedded backend: directory ${sub} is read-only; .*\\(path: ${file}\\)$`));
    assert.equal(existsSync(file), false);
  });

  it('a text file is not a lockd database, and is left untouched', async () => {
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'cluster: demo\nthis is not a database\n');
    await rejectsStorage(open(file), `embedded backend: ${file} is not a lockd database`);
    assert.equal(readFileSync(file, 'utf8'), 'cluster: demo\nthis is not a database\n');
  });

  it('a foreign SQLite database is not a lockd database, and is left untouched (not even switched to WAL)', async () => {
    const file = join(dir, 'app.db');
    const foreign = new Database(file);
    foreign.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada');");
    foreign.close();
    const before = readFileSync(file);
    await rejectsStorage(open(file), /^embedded backend: .*app\.db is not a lockd database \(an SQLite database with tables users and no lockd marker\)$/);
    assert.deepEqual(readFileSync(file), before);
    assert.equal(existsSync(`${file}-wal`), false);

    const withMeta = join(dir, 'meta.db');
    const other = new Database(withMeta);
    other.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value); INSERT INTO meta VALUES ('format', 'something-else');");
    other.close();
    await rejectsStorage(open(withMeta), `embedded backend: ${withMeta} is not a lockd database (its meta table has no lockd marker)`);
  });

  it('a lockd database of another schema version is refused', async () => {
    const file = join(dir, 'future.db');
    await (await open(file)).close();
    const db = new Database(file);
    db.prepare("UPDATE meta SET value = 99 WHERE key = 'schema_version'").run();
    db.close();
    await rejectsStorage(open(file), `embedded backend: ${file} has lockd schema version 99; this lockd reads version 1`);
  });

  describe('busy beyond the timeout', () => {
    it('a write while another connection holds the write lock fails with BackendUnavailableError; health says why', async () => {
      const file = join(dir, 'busy.db');
      const backend = await open(file, { busyTimeoutMs: 200 });
      const other = new Database(file);
      try {
        other.exec('BEGIN EXCLUSIVE');
        const started = performance.now();
        await assert.rejects(backend.put('jobs/a', '1'), (err) => {
          assert.ok(err instanceof BackendUnavailableError);
          assert.equal(err.message, `embedded backend: database ${file} busy for more than 200ms`);
          assert.equal(err.retryable, true);
          return true;
        });
        assert.ok(performance.now() - started >= 150, 'it must have waited for the busy timeout');
        await assert.rejects(backend.campaign({ node: 'a', host: 'h', pid: 1, since: '' }), BackendUnavailableError);
        assert.deepEqual(backend.health(), { up: false, reason: `embedded backend: database ${file} busy for more than 200ms` });
        other.exec('COMMIT');
        await backend.put('jobs/a', '1');
        assert.equal(await backend.get('jobs/a'), '1');
        assert.equal(backend.health().up, true);
      } finally {
        other.close();
        await backend.close();
      }
      const fresh = join(dir, 'busy-fresh.db');
      const holder = new Database(fresh);
      holder.exec('BEGIN EXCLUSIVE; CREATE TABLE t (x);');
      try {
        await assert.rejects(open(fresh, { busyTimeoutMs: 200 }), BackendUnavailableError);
      } finally {
        holder.close();
      }
    });

    it('a busy spell shorter than the safety margin costs a heartbeat, not the lease', async () => {
      const file = join(dir, 'hiccup.db');
      const { logger, next } = recordingLogger();
      // TTL 3 s: heartbeats every 800 ms, deadline 2.4 s after the last good one.
      const backend = await open(file, { busyTimeoutMs: 200 }, logger, 3000);
      const other = new Database(file);
      try {
        const lease = await backend.acquire('job');
        other.exec('BEGIN EXCLUSIVE');
        await next('heartbeat failed');
        other.exec('COMMIT');
        await next('heartbeat');
        assert.equal(lease.signal.aborted, false);
        assert.equal(lease.isValid(), true);
        assert.equal(await backend.guardedPut(lease, 'runs/job/1', 'ok'), true);
      } finally {
        other.close();
        await backend.close();
      }
    });

    it('a busy spell past the deadline self-fences the lease; the next acquire opens a new session', async () => {
      const file = join(dir, 'stuck.db');
      const backend = await open(file, { busyTimeoutMs: 200 });
      const other = new Database(file);
      let lease: Lease;
      try {
        lease = await backend.acquire('job');
        other.exec('BEGIN EXCLUSIVE');
        await new Promise((resolve) => lease.signal.addEventListener('abort', resolve, { once: true }));
        assert.ok(lease.signal.reason instanceof LeadershipLostError);
        assert.match((lease.signal.reason as Error).message, /self-fencing deadline passed/);
        assert.equal(lease.isValid(), false);
        other.exec('COMMIT');
        await assert.rejects(backend.guardedPut(lease, 'runs/job/1', 'stale'), LeadershipLostError);
        const again = await backend.acquire('job', { signal: AbortSignal.timeout(10_000) });
        assert.ok(again.token > lease.token);
        assert.equal(await backend.guardedPut(again, 'runs/job/1', 'fresh'), true);
      } finally {
        other.close();
        await backend.close();
      }
    });
  });
});
