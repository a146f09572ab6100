import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Backend } from '../../src/election/backend.js';
import { candidate, range, track, type ConformanceContext } from './conformance-context.js';
import { waitFor } from '../helpers/wait-for.js';

/** Election tests: order of arrival, observe, aborted campaigns. */
export function registerElectionTests(ctx: ConformanceContext): void {
  it('election: candidates lead in order of arrival; observe shows leader, token and queue', async () => {
    const cluster = ctx.cluster('order');
    const [a, b, c] = await Promise.all(range(3).map(() => ctx.openBackend(cluster)));
    const observer = await ctx.openBackend(cluster);
    const view = async (): Promise<{ leader: string | undefined; token: bigint | undefined; nodes: string[] }> => {
      const v = await observer.observe();
      return { leader: v.leader?.node, token: v.leader?.token, nodes: v.candidates.map((x) => x.node) };
    };
    assert.deepEqual(await view(), { leader: undefined, token: undefined, nodes: [] });

    const leaseA = await a!.campaign(candidate('A'));
    assert.equal(leaseA.name, 'leader');
    assert.equal(typeof leaseA.token, 'bigint');
    const pendingB = track(b!.campaign(candidate('B'), { signal: AbortSignal.timeout(20_000) }));
    await waitFor('B in the queue', async () => (await view()).nodes.length === 2);
    const pendingC = track(c!.campaign(candidate('C'), { signal: AbortSignal.timeout(20_000) }));
    await waitFor('C in the queue', async () => (await view()).nodes.length === 3);
    assert.deepEqual(await view(), { leader: 'A', token: leaseA.token, nodes: ['A', 'B', 'C'] });
    const full = await observer.observe();
    assert.equal(full.leader?.host, 'conformance-host');
    assert.equal(full.leader?.pid, process.pid);
    assert.equal(pendingB.settled(), false);
    assert.equal(pendingC.settled(), false);

    let started = performance.now();
    await leaseA.release();
    const leaseB = await pendingB.promise;
    assert.ok(performance.now() - started <= 500, 'B must lead within 0.5 s of A releasing');
    assert.ok(leaseB.token > leaseA.token);
    assert.equal(pendingC.settled(), false, 'C arrived after B and must still wait');
    assert.deepEqual(await view(), { leader: 'B', token: leaseB.token, nodes: ['B', 'C'] });

    started = performance.now();
    await leaseB.release();
    const leaseC = await pendingC.promise;
    assert.ok(performance.now() - started <= 500, 'C must lead within 0.5 s of B releasing');
    assert.ok(leaseC.token > leaseB.token);
    assert.deepEqual(await view(), { leader: 'C', token: leaseC.token, nodes: ['C'] });
    await leaseC.release();
    assert.deepEqual(await view(), { leader: undefined, token: undefined, nodes: [] });
  });

  for (const when of ['before the call', 'while queued'] as const) {
    it(`a campaign aborted ${when} rejects with the abort reason and leaves no candidate`, async () => {
      const cluster = ctx.cluster('abort-campaign');
      const [leader, waiter, third] = await Promise.all(range(3).map(() => ctx.openBackend(cluster)));
      const lease = await leader!.campaign(candidate('leader'));
      const controller = new AbortController();
      const reason = new Error('caller gave up');
      if (when === 'before the call') controller.abort(reason);
      const pending = track(waiter!.campaign(candidate('waiter'), { signal: controller.signal }));
      if (when === 'while queued') {
        await waitFor('the waiter in the queue', async () => (await nodes(leader!)).length === 2);
        controller.abort(reason);
      }
      await assert.rejects(pending.promise, (err) => err === reason);
      assert.deepEqual(await nodes(leader!), ['leader'], 'the aborted candidate must be gone when it rejects');
      const next = track(third!.campaign(candidate('third'), { signal: AbortSignal.timeout(10_000) }));
      await waitFor('the third candidate in the queue', async () => (await nodes(leader!)).length === 2);
      await lease.release();
      const started = performance.now();
      const third3 = await next.promise;
      assert.ok(performance.now() - started <= 500, 'the next live candidate must lead at once');
      assert.ok(third3.token > lease.token);
    });
  }
}

async function nodes(backend: Backend): Promise<string[]> {
  return (await backend.observe()).candidates.map((c) => c.node);
}
