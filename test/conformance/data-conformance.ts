import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LeadershipLostError } from '../../src/errors.js';
import { candidate, type ConformanceContext } from './conformance-context.js';
import { waitFor } from '../helpers/wait-for.js';

/** guardedPut and the unguarded data-key operations. */
export function registerDataTests(ctx: ConformanceContext): void {
  it('guardedPut: writes under live guards, ifAbsent never overwrites, a released guard writes nothing', async () => {
    const cluster = ctx.cluster('guarded');
    const a = await ctx.openBackend(cluster);
    const leader = await a.campaign(candidate('a'));
    const lock = await a.acquire('job');

    assert.equal(await a.guardedPut(leader, 'runs/job/1', 'first'), true);
    assert.equal(await a.get('runs/job/1'), 'first');
    assert.equal(await a.guardedPut([leader, lock], 'runs/job/1', 'second'), true, 'without ifAbsent it overwrites');
    assert.equal(await a.get('runs/job/1'), 'second');
    assert.equal(await a.guardedPut([leader, lock], 'runs/job/1', 'third', { ifAbsent: true }), false);
    assert.equal(await a.get('runs/job/1'), 'second', 'ifAbsent must not overwrite');
    assert.equal(await a.guardedPut([leader, lock], 'runs/job/2', 'new', { ifAbsent: true }), true);
    assert.equal(await a.get('runs/job/2'), 'new');

    await lock.release();
    await assert.rejects(a.guardedPut([leader, lock], 'runs/job/3', 'stale'), LeadershipLostError);
    await assert.rejects(a.guardedPut(lock, 'runs/job/3', 'stale', { ifAbsent: true }), LeadershipLostError);
    assert.equal(await a.get('runs/job/3'), undefined, 'a refused write must write nothing');
    assert.equal(leader.isValid(), true, 'only the lost guard is affected');
    assert.equal(await a.guardedPut(leader, 'runs/job/3', 'fresh'), true);

    await leader.release();
    await assert.rejects(a.guardedPut(leader, 'runs/job/4', 'stale'), LeadershipLostError);
    assert.equal(await a.get('runs/job/4'), undefined);
  });

  it('put/get/list/delete and watchPrefix on data keys; health is up', async () => {
    const cluster = ctx.cluster('data');
    const a = await ctx.openBackend(cluster);
    const b = await ctx.openBackend(cluster);
    assert.equal(a.health().up, true);
    assert.equal(await a.get('jobs/x'), undefined);
    let changes = 0;
    const unsubscribe = b.watchPrefix('requests/', () => changes++);
    await a.put('jobs/b', '2');
    await a.put('jobs/a', '1');
    await a.put('jobs/c/d', '3');
    await a.put('other/a', 'x');
    assert.equal(await b.get('jobs/a'), '1');
    assert.deepEqual(await b.list('jobs/'), [
      { key: 'jobs/a', value: '1' },
      { key: 'jobs/b', value: '2' },
      { key: 'jobs/c/d', value: '3' },
    ]);
    await a.delete('jobs/b');
    await a.delete('jobs/never-existed');
    assert.equal(await b.get('jobs/b'), undefined);
    assert.deepEqual(
      (await b.list('jobs/')).map((kv) => kv.key),
      ['jobs/a', 'jobs/c/d'],
    );

    // The watch may be established asynchronously, so keep writing until one change is seen.
    const before = changes;
    let writes = 0;
    await waitFor('watchPrefix to fire on a put', async () => {
      if (writes > 0 && changes > before) return true;
      await a.put(`requests/trigger-${writes++}`, 'now');
      return false;
    });
    unsubscribe();
    assert.equal(b.health().up, true);
  });
}
