import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Backend, LockView } from '../../src/election/backend.js';
import { candidate, track } from '../conformance/conformance-context.js';
import { waitFor } from '../helpers/wait-for.js';
import { curatorFixture } from './zookeeper-support.js';

const ttlMs = 3000;

describe('zookeeper backend: seats interop with Apache Curator 5 (InterProcessSemaphoreV2)', () => {
  const { backend, curator } = curatorFixture(ttlMs);
  /** A fresh cluster and the InterProcessSemaphoreV2 path of its seat set `pool`. */
  const seatSet = (): { cluster: string; path: string } => {
    const cluster = `curator-seats-${randomBytes(4).toString('hex')}`;
    return { cluster, path: `/lockd/${cluster}/seats/pool` };
  };
  /** The holders of seat set `pool` as `observer.locks()` lists them. */
  const pool = async (observer: Backend): Promise<LockView[]> => (await observer.locks()).filter((l) => l.name === 'pool' && l.seats !== undefined);
  /** True once `observer.locks()` lists two holders of `pool`, with `waiting` waiters. */
  const full = async (observer: Backend, waiting: number): Promise<boolean> => {
    const holders = await pool(observer);
    return holders.length === 2 && holders.every((l) => l.waiting === waiting);
  };

  it('a Curator holder and a lockd holder fill two seats; a lockd waiter gets the seat Curator releases; locks() shows the Curator holder', { timeout: 90_000 }, async () => {
    const { cluster, path } = seatSet();
    const [a, b] = [await backend(cluster), await backend(cluster)];
    const peer = await curator();

    peer.send(`seat-acquire ${path} 2 10000`);
    await peer.next('seat-acquired', 15_000);
    const mine = await a.acquireSeat('pool', 2, { info: candidate('a'), signal: AbortSignal.timeout(10_000) });
    assert.equal(await b.tryAcquireSeat('pool', 2), null, 'Curator and a hold both seats');

    const listed = await pool(b);
    assert.equal(listed.length, 2);
    const [theirs, ours] = listed as [LockView, LockView];
    assert.ok(theirs.token < mine.token, 'the Curator holder arrived first and has the smaller token');
    assert.equal(theirs.holder?.pid, 0, 'the Curator holder is a foreign participant');
    assert.equal(theirs.holder?.host, '');
    assert.deepEqual({ token: ours.token, node: ours.holder?.node }, { token: mine.token, node: 'a' });
    assert.deepEqual(listed.map((l) => [l.seats, l.waiting]), [[2, 0], [2, 0]], 'the count comes from the lockd holder');

    const waiter = track(b.acquireSeat('pool', 2, { info: candidate('b'), signal: AbortSignal.timeout(30_000) }));
    await waitFor('b to wait', async () => full(a, 1));
    assert.equal(waiter.settled(), false, 'both seats are held: b must wait');

    peer.send(`seat-release ${path}`);
    await peer.next('seat-released', 10_000);
    const got = await waiter.promise;
    assert.ok(got.isValid() && mine.isValid());
    assert.ok(got.token > mine.token);
    assert.deepEqual((await pool(a)).map((l) => l.holder?.node), ['a', 'b']);

    peer.send(`seat-acquire ${path} 2 500`);
    await peer.next('seat-timeout', 10_000);
    await waitFor('the timed-out Curator waiter to leave no node', async () => full(a, 0));
  });

  it('a Curator waiter gets the seat a lockd holder releases, ahead of a lockd waiter that came later', { timeout: 90_000 }, async () => {
    const { cluster, path } = seatSet();
    const [a, b, c] = [await backend(cluster), await backend(cluster), await backend(cluster)];
    const [holder, waiter] = [await curator(), await curator()];

    holder.send(`seat-acquire ${path} 2 10000`);
    await holder.next('seat-acquired', 15_000);
    const mine = await a.acquireSeat('pool', 2, { info: candidate('a') });

    waiter.send(`seat-acquire ${path} 2 30000`);
    await waitFor('the Curator waiter to queue', async () => full(a, 1));
    const later = track(b.acquireSeat('pool', 2, { info: candidate('b'), signal: AbortSignal.timeout(30_000) }));
    await waitFor('b to queue behind it', async () => full(a, 2));

    await mine.release();
    await waiter.next('seat-acquired', 10_000);
    await waitFor('one waiter left', async () => full(a, 1));
    assert.equal(later.settled(), false, 'b came after the Curator waiter and must still wait');
    assert.equal(await c.tryAcquireSeat('pool', 2), null, 'the two Curator peers hold both seats');
    const holders = await pool(c);
    assert.equal(holders.length, 2);
    assert.ok(holders.every((l) => l.holder?.pid === 0 && l.token > 0n), 'both holders are Curator peers');

    holder.send(`seat-release ${path}`);
    await holder.next('seat-released', 10_000);
    const got = await later.promise;
    assert.ok(got.isValid());
    assert.ok(got.token > mine.token);
    assert.deepEqual((await pool(c)).map((l) => [l.holder?.pid === 0 ? 'curator' : l.holder?.node, l.waiting]), [['curator', 0], ['b', 0]]);
  });
});
