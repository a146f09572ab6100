import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Backend, Lease } from '../../src/election/backend.js';
import { LeadershipLostError, UsageError } from '../../src/errors.js';
import { candidate, range, track, type ConformanceContext } from './conformance-context.js';
import { HolderClient } from './holder-client.js';
import { waitFor } from '../helpers/wait-for.js';

/** Resolves once `backend.locks()` shows `n` waiters behind the holders of seat set `name`. */
async function queued(backend: Backend, name: string, n: number): Promise<void> {
  await waitFor(`${n} waiters on seat set ${name}`, async () => (await backend.locks()).some((l) => l.name === name && l.seats !== undefined && l.waiting === n), 10_000);
}

/**
 * Seat tests (counting semaphores): at most N holders, FIFO, tokens, a frozen holder, an aborted
 * waiter, usage errors. Registered for every backend.
 */
export function registerSeatTests(ctx: ConformanceContext): void {
  const open = (cluster: string): Promise<Backend> => ctx.openBackend(cluster);
  /** `n` backends, opened one after another (concurrent first opens contend on schema setup). */
  const openMany = async (cluster: string, n: number): Promise<Backend[]> => {
    const backends: Backend[] = [];
    for (const _ of range(n)) backends.push(await open(cluster));
    return backends;
  };

  it('seats: at most N holders; the third waits until one releases; tryAcquireSeat is null when full', async () => {
    const cluster = ctx.cluster('seats-n');
    const [a, b, c] = await openMany(cluster, 3);
    const first = await a!.acquireSeat('pool', 2, { info: candidate('a'), signal: AbortSignal.timeout(10_000) });
    const second = await b!.tryAcquireSeat('pool', 2, { info: candidate('b') });
    assert.ok(second, 'the second seat is free');
    assert.equal(first.name, 'pool');
    assert.equal(typeof first.token, 'bigint');
    assert.ok(first.isValid() && second.isValid());
    assert.equal(await c!.tryAcquireSeat('pool', 2), null, 'both seats are held');
    assert.equal(await c!.tryAcquireSeat('pool', 2), null, 'a failed tryAcquireSeat must not leave c queued');
    const third = track(c!.acquireSeat('pool', 2, { info: candidate('c'), signal: AbortSignal.timeout(10_000) }));
    await queued(a!, 'pool', 1);
    assert.equal(third.settled(), false, 'both seats are held: the third must wait');
    await first.release();
    const got = await third.promise;
    assert.ok(got.token > second.token && second.token > first.token, 'tokens grow in order of arrival');
    assert.ok(second.isValid(), 'the other holder keeps its seat');
    assert.equal(await a!.tryAcquireSeat('pool', 2), null, 'full again');
  });

  it('seats and a lock of the same name are apart', async () => {
    const cluster = ctx.cluster('seats-apart');
    const a = await open(cluster);
    const b = await open(cluster);
    const seat = await a.acquireSeat('shared', 1);
    const lock = await b.tryAcquire('shared');
    assert.ok(lock, 'a seat set does not hold the lock of its name');
    const alsoLock = await a.tryAcquire('shared');
    assert.equal(alsoLock, null, 'the lock is held by b');
    assert.equal(await b.tryAcquireSeat('shared', 1), null, 'the lock does not take a seat, a holds the only one');
    assert.deepEqual(
      (await a.locks()).map((l) => [l.name, l.seats, l.token === seat.token ? 'seat' : l.token === lock.token ? 'lock' : '?']),
      [
        ['shared', undefined, 'lock'],
        ['shared', 1, 'seat'],
      ].sort((x, y) => (x[2]! < y[2]! ? -1 : 1)),
      'locks() lists the lock and the seat holder apart',
    );
    assert.ok(seat.isValid() && lock.isValid());
  });

  it('locks() lists each holder of a seat set with the set\'s seat count and its waiters', async () => {
    const cluster = ctx.cluster('seats-list');
    const [a, b, c] = await openMany(cluster, 3);
    const one = await a!.acquireSeat('gpu', 2, { info: candidate('a') });
    const two = await b!.acquireSeat('gpu', 2, { info: candidate('b') });
    const waiter = track(c!.acquireSeat('gpu', 2, { info: candidate('c') }));
    await waitFor('the waiter to be listed', async () => (await a!.locks())[0]?.waiting === 1, 5_000);
    assert.deepEqual(
      (await a!.locks()).map((l) => ({ name: l.name, token: l.token, node: l.holder?.node, seats: l.seats, waiting: l.waiting })),
      [
        { name: 'gpu', token: one.token, node: 'a', seats: 2, waiting: 1 },
        { name: 'gpu', token: two.token, node: 'b', seats: 2, waiting: 1 },
      ],
    );
    await one.release();
    await waiter.promise;
  });

  it('seats: waiters get seats in order of arrival, and tokens strictly increase', { timeout: 60_000 }, async () => {
    const cluster = ctx.cluster('seats-fifo');
    const backends = await openMany(cluster, 5);
    const [h1, h2, ...waiters] = backends;
    const held = [await h1!.acquireSeat('pool', 2), await h2!.acquireSeat('pool', 2)];
    const order: number[] = [];
    const pending: { promise: Promise<Lease>; settled: () => boolean }[] = [];
    for (const [i, w] of waiters.entries()) {
      pending.push(
        track(
          w.acquireSeat('pool', 2, { signal: AbortSignal.timeout(30_000) }).then((lease) => {
            order.push(i);
            return lease;
          }),
        ),
      );
      await queued(h1!, 'pool', i + 1);
    }
    assert.deepEqual(order, [], 'no waiter gets a seat while both are held');
    await held[0]!.release();
    const w0 = await pending[0]!.promise;
    // The listing shows the seat taken by w0 and two still waiting: nobody else got one.
    await queued(h1!, 'pool', 2);
    assert.deepEqual(order, [0], 'one seat freed: only the first waiter gets it');
    await held[1]!.release();
    const w1 = await pending[1]!.promise;
    await queued(h1!, 'pool', 1);
    assert.deepEqual(order, [0, 1]);
    await w0.release();
    const w2 = await pending[2]!.promise;
    assert.deepEqual(order, [0, 1, 2]);
    const tokens = [...held, w0, w1, w2].map((l) => l.token);
    for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `token ${i} (${tokens[i]}) must exceed ${tokens[i - 1]}`);
    await w1.release();
    await w2.release();
    const later = await h1!.acquireSeat('pool', 2);
    assert.ok(later.token > w2.token, 'a later holder, in another round, gets a greater token');
  });

  it('seats: a frozen holder loses its seat within TTL + 1 s; the next waiter gets it; the thawed holder is fenced', { timeout: 60_000 }, async () => {
    const cluster = ctx.cluster('seats-frozen');
    const ttlMs = ctx.ttlMs;
    const holder = await HolderClient.start({ config: ctx.target.config(), cluster, ttlMs });
    try {
      holder.send({ cmd: 'acquireSeat', name: 'pool', seats: 2 });
      const acquired = await holder.next('acquired', 10_000);
      const other = await open(cluster);
      const waiter = await open(cluster);
      const second = await other.acquireSeat('pool', 2);
      assert.equal(await waiter.tryAcquireSeat('pool', 2), null, 'the child must really hold a seat');

      holder.freeze();
      const frozenAt = performance.now();
      const lease = await waiter.acquireSeat('pool', 2, { signal: AbortSignal.timeout(ttlMs + 10_000) });
      const takeoverMs = performance.now() - frozenAt;
      assert.ok(takeoverMs <= ttlMs + 1000, `the seat passed ${takeoverMs.toFixed(0)} ms after the freeze (TTL ${ttlMs} ms)`);
      assert.ok(lease.token > BigInt(acquired.token) && lease.token > second.token, 'the new holder gets a greater token');
      assert.ok(second.isValid(), 'the live holder keeps its seat');

      holder.thaw();
      const aborted = await holder.next('aborted', 10_000);
      assert.equal(aborted.reason, 'LeadershipLostError');
      assert.equal(aborted.valid, false);
      assert.ok(lease.isValid() && second.isValid(), 'the thawed holder must not disturb the others');
      assert.ok(await waiter.tryAcquireSeat('extra', 2), 'the backend still works');
    } finally {
      await holder.kill();
    }
  });

  it('seats: an aborted waiter rejects with the abort reason and leaves no row', async () => {
    const cluster = ctx.cluster('seats-abort');
    const [a, b, c, d] = await openMany(cluster, 4);
    const first = await a!.acquireSeat('pool', 2);
    await b!.acquireSeat('pool', 2);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const pending = track(c!.acquireSeat('pool', 2, { signal: controller.signal }));
    await queued(a!, 'pool', 1);
    assert.equal(pending.settled(), false, 'both seats are held: the waiter must wait');
    controller.abort(reason);
    await assert.rejects(pending.promise, (err) => err === reason);
    await first.release();
    const next = await d!.tryAcquireSeat('pool', 2);
    assert.ok(next, 'an aborted waiter must not stay queued ahead of others');
    const again = await c!.tryAcquireSeat('other', 1);
    assert.ok(again, 'the aborted backend may take seats again');
  });

  it('seats: holders that disagree on the count each judge their turn by their own', async () => {
    const cluster = ctx.cluster('seats-disagree');
    const [a, b, c] = await openMany(cluster, 3);
    const one = await a!.acquireSeat('pool', 1);
    assert.equal(await b!.tryAcquireSeat('pool', 1), null, 'by a count of 1 the set is full');
    const two = await b!.tryAcquireSeat('pool', 2);
    assert.ok(two, 'by a count of 2 one seat is still free');
    assert.equal(await c!.tryAcquireSeat('pool', 2), null, 'by a count of 2 the set is now full');
    assert.ok(one.isValid() && two.isValid());
  });

  it('seats: a bad count and a seat as a guard throw UsageError', async () => {
    const cluster = ctx.cluster('seats-usage');
    const a = await open(cluster);
    for (const bad of [0, -1, 1.5, 1001, Number.NaN]) {
      await assert.rejects(a.acquireSeat('pool', bad), UsageError, `seats ${bad}`);
      await assert.rejects(a.tryAcquireSeat('pool', bad), UsageError, `seats ${bad}`);
    }
    const seat = await a.acquireSeat('pool', 1000);
    await assert.rejects(a.guardedPut(seat, 'runs/x/1', 'v'), UsageError);
    assert.equal(await a.get('runs/x/1'), undefined);
    assert.ok(seat.isValid(), 'the refused calls must not disturb the holder');
    await seat.release();
    assert.ok(seat.signal.reason instanceof LeadershipLostError);
    const again = await a.tryAcquireSeat('pool', 1000);
    assert.ok(again, 'after release the seat set may be joined again');
  });

  it('seats: one backend holds several seats of a set at once, each its own holder and token, and queues for more in order', async () => {
    const cluster = ctx.cluster('seats-several');
    const [a, b] = await openMany(cluster, 2);
    const first = await a!.acquireSeat('pool', 2, { info: candidate('a'), signal: AbortSignal.timeout(10_000) });
    const second = await a!.tryAcquireSeat('pool', 2, { info: candidate('a') });
    assert.ok(second, 'the same backend takes the second seat');
    assert.ok(second.token > first.token);
    assert.equal(await b!.tryAcquireSeat('pool', 2), null, 'both seats are held by a');
    const third = track(a!.acquireSeat('pool', 2, { info: candidate('a'), signal: AbortSignal.timeout(10_000) }));
    await queued(b!, 'pool', 1);
    assert.equal(await b!.tryAcquireSeat('pool', 2), null, 'a try never jumps the queue of a third hold');
    const holders = (await b!.locks()).filter((l) => l.name === 'pool' && l.seats !== undefined);
    assert.deepEqual(holders.map((l) => l.token), [first.token, second.token]);
    assert.equal(third.settled(), false);
    await first.release();
    const got = await third.promise;
    assert.ok(got.token > second.token, 'the third hold has a token of its own');
    assert.ok(second.isValid() && got.isValid(), 'releasing one hold leaves the others');
    await second.release();
    await got.release();
    const free = await b!.tryAcquireSeat('pool', 2);
    assert.ok(free, 'all holds released: the set is free');
  });
}
