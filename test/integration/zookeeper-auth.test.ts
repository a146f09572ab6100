import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { systemClock } from '../../src/clock.js';
import type { Backend } from '../../src/election/backend.js';
import { ZkClient } from '../../src/election/zookeeper/zk-client.js';
import { createZooKeeperBackend, type ZooKeeperBackendConfig } from '../../src/election/zookeeper/zookeeper-backend.js';
import { BackendStorageError } from '../../src/errors.js';
import { candidate } from '../conformance/conformance-context.js';
import { startZooKeeper, type ZkServer } from '../helpers/zookeeper-server.js';
import { LogSink } from './zookeeper-support.js';

const hex = (): string => randomBytes(4).toString('hex');

describe('zookeeper backend: digest auth and chroot', () => {
  let server: ZkServer;
  const open: Array<Backend | ZkClient> = [];
  const backend = async (cluster: string, extra: Partial<ZooKeeperBackendConfig> = {}): Promise<Backend> => {
    const config = { type: 'zookeeper' as const, connect: server.connect, ...extra };
    const b = await createZooKeeperBackend(config, { cluster, ttlMs: 3000, logger: new LogSink().logger });
    open.push(b);
    return b;
  };

  before(async () => {
    server = await startZooKeeper();
  });
  after(() => server.stop());
  afterEach(() => Promise.allSettled(open.splice(0).map((b) => b.close())));

  it('with digest auth only the same credentials can use the nodes; other clusters still share /lockd', async () => {
    const cluster = `auth-${hex()}`;
    const auth = { scheme: 'digest' as const, credentials: 'lockd:s3cret' };
    const owner = await backend(cluster, { auth });
    const lease = await owner.campaign(candidate('a'));
    assert.equal(await owner.guardedPut(lease, 'jobs/x', 'v'), true);

    const peer = await backend(cluster, { auth });
    assert.equal(await peer.get('jobs/x'), 'v');
    assert.equal((await peer.observe()).leader?.node, 'a');

    const stranger = await backend(cluster);
    await assert.rejects(stranger.get('jobs/x'), BackendStorageError);
    await assert.rejects(stranger.put('jobs/y', 'w'), BackendStorageError);
    await assert.rejects(stranger.observe(), BackendStorageError);

    const neighbour = await backend(`auth-${hex()}`, { auth: { scheme: 'digest', credentials: 'other:pw' } });
    await neighbour.put('jobs/z', 'mine');
    assert.equal(await neighbour.get('jobs/z'), 'mine');
  });

  it('a chroot in the connect string puts every node below it, creating it on demand', async () => {
    const cluster = `chroot-${hex()}`;
    const chroot = `/apps-${hex()}/scheduling`;
    const a = await backend(cluster, { connect: `${server.connect}${chroot}` });
    await a.put('jobs/x', 'v');
    const lease = await a.campaign(candidate('a'));

    const raw = await ZkClient.open({ hosts: server.connect, sessionTimeoutMs: 3000, clock: systemClock, connectTimeoutMs: 5000 });
    open.push(raw);
    const base = `${chroot}/lockd/${cluster}`;
    assert.equal((await raw.getData(`${base}/jobs/x`))?.data?.toString(), 'v');
    const latch = (await raw.getChildren(`${base}/leader`)) ?? [];
    assert.equal(latch.length, 1);
    assert.match(latch[0] ?? '', /^_c_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-latch-\d{10}$/);
    assert.equal((await raw.exists(`${base}/leader/${latch[0]}`))?.czxid, lease.token, 'the token is the node czxid');

    const unrooted = await backend(cluster);
    assert.equal(await unrooted.get('jobs/x'), undefined, 'without the chroot it is another tree');
  });
});
