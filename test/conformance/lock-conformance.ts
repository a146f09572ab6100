import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { LeadershipLostError, UsageError } from '../../src/errors.js';
import { candidate, range, track, type ConformanceContext } from './conformance-context.js';
import { waitFor } from '../helpers/wait-for.js';

/** Lock tests: exclusion, tokens, tryAcquire, release, abort, usage errors, close. */
export function registerLockTests(ctx: ConformanceContext): void {
  it('mutual exclusion: 8 sessions x 5 guarded read-modify-writes lose no update', { timeout: 60_000 }, async () => {
    const cluster = ctx.cluster('mutex');
    const backends = await Promise.all(range(8).map(() => ctx.openBackend(cluster)));
    const iterations = 5;
    let inside: number | null = null;
    const overlaps: string[] = [];
    const tokens: bigint[] = [];
    await backends[0]!.put('counter', '0');
    await Promise.all(
      backends.map(async (backend, i) => {
        for (let n = 0; n < iterations; n++) {
          const lease = await backend.acquire('counter', { signal: AbortSignal.timeout(30_000) });
          if (inside !== null) overlaps.push(`${i} acquired while ${inside} held`);
          inside = i;
          tokens.push(lease.token);
          const current = Number(await backend.get('counter'));
          // Widen the window a broken lock would let another holder slip into.
          await yieldToLoop();
          await backend.get('counter');
          assert.equal(await backend.guardedPut(lease, 'counter', String(current + 1)), true);
          inside = null;
          await lease.release();
        }
      }),
    );
    assert.deepEqual(overlaps, []);
    assert.equal(await backends[0]!.get('counter'), String(8 * iterations));
    assertStrictlyIncreasing(tokens);
  });

  it('fencing tokens are bigints that strictly increase across holders and sessions', async () => {
    const cluster = ctx.cluster('tokens');
    const a = await ctx.openBackend(cluster);
    const b = await ctx.openBackend(cluster);
    const tokens: bigint[] = [];
    const take = async (backend: typeof a): Promise<void> => {
      const lease = await backend.acquire('job', { signal: AbortSignal.timeout(10_000) });
      assert.equal(typeof lease.token, 'bigint');
      assert.equal(lease.name, 'job');
      tokens.push(lease.token);
      await lease.release();
    };
    await take(a);
    await take(b);
    await take(a);
    await a.close();
    await take(await ctx.openBackend(cluster));
    await take(b);
    assertStrictlyIncreasing(tokens);
  });

  it('tryAcquire returns null while another backend holds, and succeeds after release', async () => {
    const cluster = ctx.cluster('try');
    const a = await ctx.openBackend(cluster);
    const b = await ctx.openBackend(cluster);
    const held = await a.tryAcquire('job', { info: candidate('a') });
    assert.ok(held, 'a free lock must be taken');
    assert.equal(held.isValid(), true);
    assert.ok(held.remainingMs() > 0);
    assert.equal(await b.tryAcquire('job'), null);
    assert.equal(await b.tryAcquire('job'), null, 'a failed tryAcquire must not leave b queued');
    const other = await b.tryAcquire('other-job');
    assert.ok(other, 'locks with other names are independent');
    await held.release();
    const taken = await b.tryAcquire('job');
    assert.ok(taken, 'the lock must be free once released');
    assert.ok(taken.token > held.token);
  });

  it('locks() lists every held lock by name with its token, holder and waiters, and not the election', async () => {
    const cluster = ctx.cluster('list');
    const a = await ctx.openBackend(cluster);
    const b = await ctx.openBackend(cluster);
    assert.deepEqual(await a.locks(), []);
    await a.campaign(candidate('a'));
    const second = await a.tryAcquire('b-lock', { info: candidate('a') });
    const first = await b.tryAcquire('a-lock', { info: candidate('b') });
    assert.ok(first && second);
    const waiter = track(a.acquire('a-lock', { info: candidate('a') }));
    await waitFor('the waiter to be listed', async () => (await b.locks())[0]?.waiting === 1, 5_000);
    const listed = await b.locks();
    assert.deepEqual(
      listed.map((l) => ({ name: l.name, token: l.token, node: l.holder?.node, waiting: l.waiting })),
      [
        { name: 'a-lock', token: first.token, node: 'b', waiting: 1 },
        { name: 'b-lock', token: second.token, node: 'a', waiting: 0 },
      ],
    );
    await first.release();
    const taken = await waiter.promise;
    await waitFor('the new holder to be listed', async () => (await b.locks())[0]?.token === taken.token, 5_000);
  });

  it('release is idempotent and aborts the signal with LeadershipLostError', async () => {
    const cluster = ctx.cluster('release');
    const a = await ctx.openBackend(cluster);
    const lease = await a.acquire('job');
    assert.equal(lease.signal.aborted, false);
    await lease.release();
    assert.equal(lease.signal.aborted, true);
    assert.ok(lease.signal.reason instanceof LeadershipLostError);
    assert.equal(lease.isValid(), false);
    await lease.release();
    await Promise.all([lease.release(), lease.release()]);
    const again = await a.tryAcquire('job');
    assert.ok(again, 'the same backend may take the lock again after release');
  });

  for (const when of ['before the call', 'during the call', 'while queued'] as const) {
    it(`an acquire aborted ${when} rejects with the abort reason and leaves no key`, async () => {
      const cluster = ctx.cluster('abort-acquire');
      const [holder, waiter, third] = await Promise.all(range(3).map(() => ctx.openBackend(cluster)));
      const held = await holder!.acquire('job');
      const controller = new AbortController();
      const reason = new Error('caller gave up');
      if (when === 'before the call') controller.abort(reason);
      const pending = track(waiter!.acquire('job', { signal: controller.signal }));
      if (when === 'during the call') await Promise.resolve();
      // No event announces "queued" for a lock; a healthy local server enqueues within a few ms.
      if (when === 'while queued') await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(pending.settled(), false, 'the lock is held: acquire must still wait');
      controller.abort(reason);
      await assert.rejects(pending.promise, (err) => err === reason);
      await held.release();
      const next = await third!.tryAcquire('job');
      assert.ok(next, 'an aborted waiter must not stay queued ahead of others');
    });
  }

  it('a second concurrent acquire of one name on one backend throws UsageError', async () => {
    const cluster = ctx.cluster('usage');
    const a = await ctx.openBackend(cluster);
    const b = await ctx.openBackend(cluster);
    const held = await a.acquire('job');
    await assert.rejects(a.tryAcquire('job'), UsageError);
    await assert.rejects(a.acquire('job'), UsageError);
    assert.equal(held.isValid(), true, 'the refused call must not disturb the holder');

    const blocker = await b.acquire('queued');
    const controller = new AbortController();
    const first = track(a.acquire('queued', { signal: controller.signal }));
    await assert.rejects(a.acquire('queued'), UsageError);
    await assert.rejects(a.tryAcquire('queued'), UsageError);
    controller.abort(new Error('done'));
    await assert.rejects(first.promise);
    await blocker.release();

    await held.release();
    const again = await a.tryAcquire('job');
    assert.ok(again, 'after release the name may be acquired again');
    const queuedAgain = await a.tryAcquire('queued');
    assert.ok(queuedAgain, 'after an aborted acquire the name may be acquired again');
  });

  it('close() releases every lease: others acquire at once', async () => {
    const cluster = ctx.cluster('close');
    const a = await ctx.openBackend(cluster);
    const b = await ctx.openBackend(cluster);
    const lock = await a.acquire('job');
    const leadership = await a.campaign(candidate('a'));
    const waiting = track(b.campaign(candidate('b'), { signal: AbortSignal.timeout(10_000) }));
    await waitFor('b to be a candidate', async () => (await b.observe()).candidates.length === 2);
    const started = performance.now();
    await a.close();
    assert.equal(lock.signal.aborted, true);
    assert.equal(leadership.signal.aborted, true);
    assert.equal(lock.isValid(), false);
    const taken = await b.tryAcquire('job');
    assert.ok(taken, 'a closed backend must leave no lock behind');
    const lead = await waiting.promise;
    const handoffMs = performance.now() - started;
    assert.ok(handoffMs < 1000, `leadership must pass at once on close, took ${handoffMs.toFixed(0)} ms`);
    assert.ok(lead.token > leadership.token);
    await a.close();
  });
}

function assertStrictlyIncreasing(tokens: readonly bigint[]): void {
  for (let i = 1; i < tokens.length; i++) {
    assert.ok(tokens[i]! > tokens[i - 1]!, `token ${i} (${tokens[i]}) must exceed token ${i - 1} (${tokens[i - 1]})`);
  }
}
