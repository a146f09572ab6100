import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PUT_ALL_MAX_BYTES, PUT_ALL_MAX_ENTRIES } from '../../src/election/backend.js';
import { LeadershipLostError, UsageError } from '../../src/errors.js';
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

  it('guardedPutAll: 100 keys in one call (new, existing, nested, a parent of other keys), all or nothing, bounded', async () => {
    const cluster = ctx.cluster('put-all');
    const a = await ctx.openBackend(cluster);
    const b = await ctx.openBackend(cluster);
    const leader = await a.campaign(candidate('a'));
    const lock = await a.acquire('job');
    await a.put('jobs/j1', 'old');
    await a.put('jobs/nest/deep', 'below');
    const entries = [
      { key: 'jobs/j1', value: 'new' },
      { key: 'jobs/nest', value: 'parent' },
      { key: 'jobs/fresh/a/b', value: 'nested' },
      ...Array.from({ length: PUT_ALL_MAX_ENTRIES - 3 }, (_, i) => ({ key: `jobs/k${String(i).padStart(3, '0')}`, value: `{"lastSlot":${i}}` })),
    ];
    await a.guardedPutAll([leader, lock], entries);
    const listed = await b.list('jobs/');
    assert.deepEqual(
      listed,
      [...entries, { key: 'jobs/nest/deep', value: 'below' }].sort((x, y) => (x.key < y.key ? -1 : 1)),
      'every entry written over or beside what was there, read by another session',
    );
    await a.guardedPutAll(leader, []);

    await assert.rejects(a.guardedPutAll(leader, [...entries, { key: 'jobs/one-more', value: '' }]), UsageError);
    await assert.rejects(
      a.guardedPutAll(leader, [
        { key: 'jobs/twice', value: '1' },
        { key: 'jobs/twice', value: '2' },
      ]),
      UsageError,
    );
    await assert.rejects(a.guardedPutAll(leader, [{ key: 'jobs/big', value: 'x'.repeat(PUT_ALL_MAX_BYTES) }]), UsageError);
    assert.equal(await b.get('jobs/twice'), undefined, 'a refused call writes nothing');

    await lock.release();
    const stale = [
      { key: 'jobs/j1', value: 'stale' },
      { key: 'jobs/stale', value: 'stale' },
    ];
    await assert.rejects(a.guardedPutAll([leader, lock], stale), LeadershipLostError);
    assert.equal(await b.get('jobs/j1'), 'new', 'a released guard writes none of the entries');
    assert.equal(await b.get('jobs/stale'), undefined);
    assert.equal(leader.isValid(), true, 'only the lost guard is affected');
    await leader.release();
    await assert.rejects(a.guardedPutAll(leader, stale), LeadershipLostError);
    assert.equal(await b.get('jobs/stale'), undefined);
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
