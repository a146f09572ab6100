import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Backend } from '../../src/election/backend.js';
import { createZooKeeperBackend } from '../../src/election/zookeeper/zookeeper-backend.js';
import { candidate, whenAborted } from '../conformance/conformance-context.js';
import { waitFor } from '../helpers/wait-for.js';
import { startZooKeeper, type ZkServer } from '../helpers/zookeeper-server.js';
import { LogSink } from './zookeeper-support.js';

const newCluster = (): string => `session-${randomBytes(4).toString('hex')}`;

describe('zookeeper backend: session liveness (standalone server)', () => {
  let server: ZkServer;
  const open: Backend[] = [];
  const backend = async (ttlMs: number, sink = new LogSink(), cluster = newCluster()): Promise<Backend> => {
    const b = await createZooKeeperBackend({ type: 'zookeeper', connect: server.connect }, { cluster, ttlMs, logger: sink.logger });
    open.push(b);
    return b;
  };

  before(async () => {
    server = await startZooKeeper();
  });
  after(() => server.stop());
  afterEach(async () => {
    server.thaw();
    await Promise.allSettled(open.splice(0).map((b) => b.close()));
  });

  it('server frozen past the session timeout: isValid() goes false within the TTL; after thaw a new session leads', async () => {
    const ttlMs = 2000;
    const sink = new LogSink();
    const a = await backend(ttlMs, sink);
    const firstSession = sink.lastSessionId();
    const lease = await a.campaign(candidate('a'));
    assert.equal(lease.isValid(), true);

    server.freeze();
    const frozenAt = performance.now();
    await waitFor('the lease to stop being valid', () => !lease.isValid(), ttlMs + 5000);
    const invalidMs = performance.now() - frozenAt;
    assert.ok(invalidMs < ttlMs, `isValid() went false ${invalidMs.toFixed(0)} ms after the freeze (TTL ${ttlMs} ms)`);
    assert.equal(a.health().up, false);
    await whenAborted(lease.signal, 'lease of a frozen server', ttlMs);
    // The scenario is a freeze longer than the session timeout, so the server expires the session.
    await delay(Math.max(0, ttlMs + 500 - (performance.now() - frozenAt)));
    server.thaw();

    const again = await a.campaign(candidate('a'), { signal: AbortSignal.timeout(3 * ttlMs + 5000) });
    assert.notEqual(sink.lastSessionId(), firstSession, 'the lost session must not be reused');
    assert.ok(again.token > lease.token);
    assert.equal(again.isValid(), true);
    const view = await a.observe();
    assert.deepEqual(
      view.candidates.map((c) => c.node),
      ['a'],
      'the expired session left no node behind',
    );
    assert.equal(view.leader?.token, again.token);
    assert.equal(a.health().up, true);
  });

  it('listing 10,000 keys (a start reading every job state) does not hold the heartbeat back: the leader lease stays valid', { timeout: 120_000 }, async () => {
    const ttlMs = 2000;
    const cluster = newCluster();
    const writer = await backend(ttlMs, new LogSink(), cluster);
    const writerLease = await writer.campaign(candidate('writer'));
    const value = JSON.stringify({ lastSlot: Date.now(), lastRunId: '', missedTotal: 0, skippedTotal: 0, updatedAt: new Date().toISOString() });
    for (let i = 0; i < 10_000; i += 100) {
      await writer.guardedPutAll(writerLease, Array.from({ length: 100 }, (_, k) => ({ key: `jobs/job-${String(i + k).padStart(5, '0')}`, value })));
    }
    await writerLease.release();

    const sink = new LogSink();
    const reader = await backend(ttlMs, sink, cluster);
    const lease = await reader.campaign(candidate('reader'));
    let suspended = false;
    const watch = setInterval(() => {
      if (!lease.isValid()) suspended = true;
    }, 10);
    try {
      const listed = await reader.list('jobs/');
      assert.equal(listed.length, 10_000);
    } finally {
      clearInterval(watch);
    }
    assert.equal(lease.signal.aborted, false, 'the session was lost while listing');
    assert.equal(suspended, false, 'the lease stopped being valid while listing (a heartbeat waited behind the reads)');
  });

  it('a protected create whose reply was lost is found by its uuid: no orphan node, one candidate', async () => {
    // Long enough that the create's deadline (TTL/3) passes well before the session's (0.8 TTL).
    const ttlMs = 6000;
    const sink = new LogSink();
    const cluster = newCluster();
    const a = await backend(ttlMs, sink, cluster);
    const watcher = await backend(ttlMs, new LogSink(), cluster);
    // The election's directory exists, so the create below succeeds once the server runs again.
    await (await watcher.campaign(candidate('w'))).release();

    server.freeze();
    const pending = a.campaign(candidate('a'), { signal: AbortSignal.timeout(4 * ttlMs) });
    await sink.next((l) => l.msg === 'create not confirmed; looking for our node by its protection id', ttlMs);
    // The server takes the create it has queued, but its reply went to a call that gave up.
    server.thaw();
    const lease = await pending;
    await sink.next((l) => l.msg === 'found the node of a create whose reply was lost', 1000);

    const view = await watcher.observe();
    assert.deepEqual(view.candidates.map((c) => c.node), ['a'], 'exactly one node: the retry reused the first create');
    assert.equal(view.leader?.token, lease.token);
    await lease.release();
    assert.deepEqual((await watcher.observe()).candidates, []);
  });

  it('a missed heartbeat suspends without aborting: the lease is valid again once ownership is re-checked', async () => {
    // Suspension comes within half the TTL, loss not before 0.55 TTL: room to thaw in between.
    const ttlMs = 6000;
    const a = await backend(ttlMs);
    const lease = await a.acquire('job');

    server.freeze();
    const frozenAt = performance.now();
    await waitFor('the lease to be suspended', () => !lease.isValid(), ttlMs);
    assert.equal(a.health().up, false);
    assert.match(a.health().reason ?? '', /heartbeat|disconnected/);
    server.thaw();
    await waitFor('the lease to be valid again', () => lease.isValid(), ttlMs);
    const suspendedMs = performance.now() - frozenAt;
    assert.equal(lease.signal.aborted, false, `a ${suspendedMs.toFixed(0)} ms hiccup must not abort the lease`);
    assert.equal(await a.guardedPut(lease, 'runs/job/1', 'after the hiccup'), true);
    assert.equal(a.health().up, true);
  });
});
