import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Lease } from '../../src/election/backend.js';
import type { CuratorPeer } from '../interop/curator/curator-peer.js';
import { candidate, track } from '../conformance/conformance-context.js';
import { waitFor } from '../helpers/wait-for.js';
import { curatorFixture, Sampler } from './zookeeper-support.js';

const ttlMs = 3000;

describe('zookeeper backend: interop with Apache Curator 5 (LeaderLatch, InterProcessMutex)', () => {
  const { backend, curator } = curatorFixture(ttlMs);


  it('a LeaderLatch and two lockd candidates share one queue: at most one leads, observe() names the Curator leader', { timeout: 90_000 }, async () => {
    const cluster = `curator-${randomBytes(4).toString('hex')}`;
    const latchPath = `/lockd/${cluster}/leader`;
    const [a, b, observer] = [await backend(cluster), await backend(cluster), await backend(cluster)];
    const peer = await curator();
    const leases: Lease[] = [];
    const sampler = sampleLeaders(peer, leases);
    try {
      peer.send(`join ${latchPath} curator-1`);
      await peer.next('leader', 10_000);
      const campaignA = track(a.campaign(candidate('a')).then((l) => (leases.push(l), l)));
      await waitFor('a to queue', async () => (await observer.observe()).candidates.length === 2);
      const campaignB = track(b.campaign(candidate('b')).then((l) => (leases.push(l), l)));
      await waitFor('b to queue', async () => (await observer.observe()).candidates.length === 3);

      const view = await observer.observe();
      assert.deepEqual(view.candidates.map((c) => c.node), ['curator-1', 'a', 'b']);
      assert.equal(view.leader?.node, 'curator-1', 'a Curator leader is named by its participant id');
      assert.equal(view.leader?.host, '');
      assert.equal(typeof view.leader?.token, 'bigint');
      assert.equal(campaignA.settled(), false, 'lockd must not lead while the Curator latch does');

      peer.send('leave');
      await peer.next('left', 10_000);
      const leaseA = await campaignA.promise;
      assert.ok(leaseA.token > (view.leader?.token ?? 0n));
      assert.equal(campaignB.settled(), false);

      peer.send(`join ${latchPath} curator-1`);
      await peer.next('joined', 10_000);
      await waitFor('curator to queue behind b', async () => (await observer.observe()).candidates.length === 3);
      assert.deepEqual((await observer.observe()).candidates.map((c) => c.node), ['a', 'b', 'curator-1']);

      await leaseA.release();
      const leaseB = await campaignB.promise;
      assert.equal(peer.leads, false, 'Curator arrived after b and must still wait');
      await leaseB.release();
      await peer.next('leader', 10_000);
      assert.equal((await observer.observe()).leader?.node, 'curator-1');
    } finally {
      const { violations, samples } = await sampler.stop();
      assert.deepEqual(violations, []);
      assert.ok(samples >= 5, `only ${samples} samples taken`);
    }
  });

  it('an InterProcessMutex and lockd locks exclude each other', { timeout: 90_000 }, async () => {
    const cluster = `curator-${randomBytes(4).toString('hex')}`;
    const lockPath = `/lockd/${cluster}/locks/report`;
    const a = await backend(cluster);
    const peer = await curator();

    peer.send(`lock ${lockPath} 5000`);
    await peer.next('locked', 10_000);
    assert.equal(await a.tryAcquire('report'), null, 'a Curator-held mutex must make tryAcquire return null');
    const waiting = track(a.acquire('report', { signal: AbortSignal.timeout(30_000) }));
    peer.send('unlock');
    await peer.next('unlocked', 10_000);
    const lease = await waiting.promise;
    assert.equal(lease.isValid(), true);

    peer.send(`lock ${lockPath} 500`);
    await peer.next('lock-timeout', 10_000);
    await lease.release();
    peer.send(`lock ${lockPath} 5000`);
    await peer.next('locked', 10_000);
    assert.equal(await a.tryAcquire('report'), null);
    peer.send('unlock');
    await peer.next('unlocked', 10_000);
    const again = await a.tryAcquire('report');
    assert.ok(again && again.token > lease.token);
  });
});

/** Every ~10 ms: the Curator peer's belief plus the valid lockd leases is at most one leader. */
function sampleLeaders(peer: CuratorPeer, leases: readonly Lease[]): Sampler {
  return new Sampler(() => {
    const leaders = (peer.leads ? ['curator'] : []).concat(leases.filter((l) => l.isValid()).map((l) => `lockd ${l.token}`));
    return leaders.length > 1 ? `leading at once: ${leaders.join(', ')}` : undefined;
  });
}
