import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import type { Backend } from '../../src/election/backend.js';
import { createEmbeddedBackend } from '../../src/election/embedded/embedded-backend.js';
import { BackendUnavailableError } from '../../src/errors.js';

const TTL_MS = 5000;

/** Frames in the WAL since the last truncating checkpoint: each commit appends the pages it changed. */
function walFrames(db: Database.Database): number {
  const [row] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number }>;
  return row!.log;
}

/**
 * The embedded store's group commit (src/election/embedded/store.ts): writes made in one turn of
 * the event loop commit in one transaction, so a burst of 200 writes costs a few commits (and
 * fsyncs), not 200; a transaction that fails writes none of its group and fails each write.
 */
describe('embedded backend: group commit', () => {
  let dir = '';
  let n = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockd-group-commit-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const open = async (busyTimeoutMs = 5000): Promise<{ backend: Backend; file: string }> => {
    const file = join(dir, `db-${++n}.sqlite`);
    const backend = await createEmbeddedBackend({ type: 'embedded', path: file }, { cluster: 'c', ttlMs: TTL_MS, logger: pino({ level: 'silent' }) }, { busyTimeoutMs });
    return { backend, file };
  };

  it('200 writes issued at once, guarded and not, commit in a few transactions, each written once', async () => {
    const { backend, file } = await open();
    const observer = new Database(file);
    try {
      const lease = await backend.tryAcquire('job');
      assert.ok(lease);
      observer.pragma('wal_checkpoint(TRUNCATE)');
      const before = walFrames(observer);
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? backend.put(`k/${i}`, 'v') : backend.guardedPut(lease, `k/${i}`, 'v', { ifAbsent: true }))),
      );
      const frames = walFrames(observer) - before;
      // One commit per write appends at least one frame each (200+); two groups of at most 128
      // append the few pages they touched, once each.
      assert.ok(frames < 40, `${frames} WAL frames for 200 writes: not group-committed`);
      assert.equal((await backend.list('k/')).length, 200);
    } finally {
      observer.close();
      await backend.close();
    }
  });

  it('a group whose transaction cannot start (another process holds the write lock past the busy timeout): every write fails, none is written', async () => {
    const { backend, file } = await open(300);
    const blocker = new Database(file);
    try {
      await backend.put('warm', 'v');
      blocker.exec('BEGIN IMMEDIATE');
      const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => backend.put(`blocked/${i}`, 'v')));
      blocker.exec('ROLLBACK');
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.ok(r.reason instanceof BackendUnavailableError, String(r.reason));
      }
      assert.deepEqual(await backend.list('blocked/'), []);
      await backend.put('after', 'v');
      assert.equal(await backend.get('after'), 'v', 'writes work again once the lock is free');
    } finally {
      blocker.close();
      await backend.close();
    }
  });
});
