import assert from 'node:assert/strict';
import { it } from 'node:test';
import { BackendUnavailableError, LeadershipLostError } from '../../src/errors.js';
import { whenAborted, type ConformanceContext } from './conformance-context.js';
import { HolderClient } from './holder-client.js';

/** Failures: a frozen holder process, a frozen backend server. */
export function registerFailureTests(ctx: ConformanceContext): void {
  it('frozen holder: another backend takes over within TTL + 1.5 s; the thawed holder is fenced', { timeout: 60_000 }, async () => {
    const cluster = ctx.cluster('frozen-holder');
    const ttlMs = ctx.ttlMs;
    const holder = await HolderClient.start({ config: ctx.target.config(), cluster, ttlMs });
    try {
      holder.send({ cmd: 'acquire', name: 'job' });
      const acquired = await holder.next('acquired', 10_000);
      const other = await ctx.openBackend(cluster);
      assert.equal(await other.tryAcquire('job'), null, 'the child must really hold the lock');

      holder.freeze();
      const frozenAt = performance.now();
      const lease = await other.acquire('job', { signal: AbortSignal.timeout(ttlMs + 10_000) });
      const takeoverMs = performance.now() - frozenAt;
      assert.ok(takeoverMs <= ttlMs + 1500, `takeover took ${takeoverMs.toFixed(0)} ms (TTL ${ttlMs} ms)`);
      assert.ok(lease.token > BigInt(acquired.token), 'the new holder must get a greater token');

      holder.thaw();
      const aborted = await holder.next('aborted', 10_000);
      assert.equal(aborted.reason, 'LeadershipLostError');
      assert.equal(aborted.valid, false);
      holder.send({ cmd: 'guardedPut', name: 'job', key: 'runs/job/1', value: 'stale' });
      const put = await holder.next('putResult', 10_000);
      assert.equal(put.ok, false, 'a fenced holder must not write');
      assert.equal(await other.get('runs/job/1'), undefined);
      assert.equal(await other.guardedPut(lease, 'runs/job/1', 'fresh'), true);
      assert.equal(lease.isValid(), true, 'the thawed holder must not disturb the new one');
    } finally {
      await holder.kill();
    }
  });

  const freezeServer = ctx.target.freezeServer?.bind(ctx.target);
  if (!freezeServer) return;
  it('frozen server: the lease aborts by its own deadline within the TTL; the backend recovers after thaw', { timeout: 60_000 }, async () => {
    const cluster = ctx.cluster('frozen-server');
    const ttlMs = ctx.ttlMs;
    const backend = await ctx.openBackend(cluster);
    const lease = await backend.acquire('job');
    const frozenAt = performance.now();
    const thaw = await freezeServer();
    try {
      await whenAborted(lease.signal, 'lease of a frozen server', ttlMs + 5000);
      const abortMs = performance.now() - frozenAt;
      assert.ok(abortMs <= ttlMs, `the lease aborted ${abortMs.toFixed(0)} ms after the freeze (TTL ${ttlMs} ms)`);
      assert.ok(lease.signal.reason instanceof LeadershipLostError);
      assert.equal(lease.isValid(), false);
      assert.ok(lease.remainingMs() <= 0);
      assert.equal(backend.health().up, false, 'a session past its deadline is not up');
      await assert.rejects(
        backend.guardedPut(lease, 'runs/job/1', 'stale'),
        (err) => err instanceof LeadershipLostError || err instanceof BackendUnavailableError,
      );
    } finally {
      await thaw();
    }
    await lease.release();
    const again = await backend.acquire('job', { signal: AbortSignal.timeout(3 * ttlMs + 10_000) });
    assert.equal(again.isValid(), true);
    assert.ok(again.token > lease.token);
    assert.equal(await backend.get('runs/job/1'), undefined, 'the refused write must not land later');
    assert.equal(await backend.guardedPut(again, 'runs/job/1', 'fresh'), true);
    assert.equal(backend.health().up, true);
  });
}
