import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Stat } from 'node-zookeeper-client';
import { decodeCandidate, decodeSeatCount, encodeCandidate, encodeSeatHolder } from '../../src/election/zookeeper/candidate-data.js';
import {
  findOwnNode,
  isProtectedName,
  LATCH_NODE_NAME,
  LEASE_NODE_NAME,
  LOCK_NODE_NAME,
  newProtectedId,
  protectedCreatePath,
  sequenceSortKey,
  sortBySequence,
} from '../../src/election/zookeeper/protected-node.js';
import { toZkStat } from '../../src/election/zookeeper/zk-types.js';
import { ZkLayout, parseConnectString } from '../../src/election/zookeeper/zk-layout.js';
import { UsageError } from '../../src/errors.js';

const ID_LOW = '00000000-0000-4000-8000-000000000000';
const ID_HIGH = 'ffffffff-ffff-4fff-bfff-ffffffffffff';

describe('zookeeper: Curator protected node names', () => {
  it('creates `<dir>/_c_<uuid>-latch-` and `-lock-` paths with a canonical lowercase uuid', () => {
    const id = newProtectedId();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(newProtectedId(), id);
    assert.equal(protectedCreatePath('/lockd/c/leader', id, LATCH_NODE_NAME), `/lockd/c/leader/_c_${id}-latch-`);
    assert.equal(protectedCreatePath('/lockd/c/locks/j', id, LOCK_NODE_NAME), `/lockd/c/locks/j/_c_${id}-lock-`);
    assert.equal(protectedCreatePath('/lockd/c/seats/s/leases', id, LEASE_NODE_NAME), `/lockd/c/seats/s/leases/_c_${id}-lease-`);
    assert.equal(isProtectedName(`_c_${id}-latch-0000000007`), true);
  });

  it('recognises only well-formed protection prefixes', () => {
    assert.equal(isProtectedName('latch-0000000001'), false);
    assert.equal(isProtectedName(`_c_${ID_LOW}latch-0000000001`), false, 'separator missing');
    assert.equal(isProtectedName('_c_not-a-uuid-at-all-0000000000000000-lock-0000000001'), false);
    assert.equal(isProtectedName(`_c_${ID_LOW}-`), false, 'nothing after the prefix');
  });

  it('sorts by the sequence after the lock name, ignoring the uuid, as Curator does', () => {
    const children = [
      `_c_${ID_LOW}-latch-0000000003`,
      `_c_${ID_HIGH}-latch-0000000001`,
      'latch-0000000002',
      `_c_${ID_LOW}-latch-0000000010`,
    ];
    assert.deepEqual(sortBySequence(children, LATCH_NODE_NAME), [
      `_c_${ID_HIGH}-latch-0000000001`,
      'latch-0000000002',
      `_c_${ID_LOW}-latch-0000000003`,
      `_c_${ID_LOW}-latch-0000000010`,
    ]);
    assert.equal(sequenceSortKey(`_c_${ID_HIGH}-lock-0000000042`, LOCK_NODE_NAME), '0000000042');
    assert.equal(sequenceSortKey('stray-node', LOCK_NODE_NAME), 'stray-node', 'a name without the lock name sorts as a whole');
  });

  it('finds the node of a lost create reply by its protection id, and only that one', () => {
    const mine = `_c_${ID_LOW}-lock-0000000005`;
    const children = [`_c_${ID_HIGH}-lock-0000000004`, mine, 'lock-0000000006'];
    assert.equal(findOwnNode(children, ID_LOW), mine);
    assert.equal(findOwnNode(children, newProtectedId()), undefined);
    assert.equal(findOwnNode([`_c_${ID_LOW.slice(0, -1)}1-lock-0000000001`], ID_LOW), undefined);
  });
});

describe('zookeeper: stats, layout, candidate data', () => {
  it('reads czxid and ephemeralOwner as exact bigints (beyond 2^53)', () => {
    const long = (hex: string): Buffer => Buffer.from(hex, 'hex');
    const stat = toZkStat({
      czxid: long('7ffffffffffffff1'),
      mzxid: long('0000000000000001'),
      ctime: long('0000018bcfe56800'),
      mtime: long('0000018bcfe56800'),
      version: 3,
      cversion: 0,
      aversion: 0,
      ephemeralOwner: long('0100000a2b3c0000'),
      dataLength: 0,
      numChildren: 2,
      pzxid: long('0000000000000001'),
    } satisfies Stat);
    assert.equal(stat.czxid, 0x7ffffffffffffff1n);
    assert.equal(stat.ephemeralOwner, 0x0100000a2b3c0000n);
    assert.equal(stat.ctimeMs, 0x18bcfe56800);
    assert.equal(stat.numChildren, 2);
  });

  it('splits the connect string into hosts and a chroot that lockd applies itself', () => {
    assert.deepEqual(parseConnectString('h1:2181,h2:2181/apps/x'), { hosts: 'h1:2181,h2:2181', chroot: '/apps/x' });
    assert.deepEqual(parseConnectString('h1:2181/apps/'), { hosts: 'h1:2181', chroot: '/apps' });
    assert.deepEqual(parseConnectString('127.0.0.1:2181'), { hosts: '127.0.0.1:2181', chroot: '' });
    assert.throws(() => parseConnectString('/apps'), UsageError);
    assert.throws(() => parseConnectString('h1:2181,,h2:2181'), UsageError);
    assert.throws(() => parseConnectString('h1:2181/a//b'), UsageError);
  });

  it('maps the election, locks and data keys below `<chroot>/lockd/<cluster>`', () => {
    const layout = new ZkLayout('/apps', 'demo');
    assert.equal(layout.leaderDir, '/apps/lockd/demo/leader');
    assert.equal(layout.lockDir('report'), '/apps/lockd/demo/locks/report');
    assert.equal(layout.dataPath('runs/report/1700000000000'), '/apps/lockd/demo/runs/report/1700000000000');
    assert.deepEqual(layout.listTarget('runs/report/'), { dir: '/apps/lockd/demo/runs/report', childPrefix: '', keyPrefix: 'runs/report/' });
    assert.deepEqual(layout.listTarget('runs/rep'), { dir: '/apps/lockd/demo/runs', childPrefix: 'rep', keyPrefix: 'runs/' });
    assert.deepEqual(layout.listTarget(''), { dir: '/apps/lockd/demo', childPrefix: '', keyPrefix: '' });
    assert.throws(() => layout.dataPath('runs//x'), UsageError);
    assert.throws(() => layout.dataPath('../escape'), UsageError);
    assert.throws(() => layout.dataPath('leader/x'), UsageError, 'the election is not a data key');
    assert.throws(() => layout.dataPath('locks'), UsageError);
    assert.throws(() => layout.lockDir('a/b'), UsageError);
    assert.equal(layout.seatDir('pool'), '/apps/lockd/demo/seats/pool');
    assert.throws(() => layout.seatDir('a/b'), UsageError);
    assert.throws(() => layout.dataPath('seats/pool/leases'), UsageError, 'seat sets are not data keys');
    assert.deepEqual(layout.sharedAncestors, ['/apps', '/apps/lockd']);
    assert.deepEqual(new ZkLayout('', 'demo').sharedAncestors, ['/lockd']);
    assert.throws(() => new ZkLayout('', 'a/b'), UsageError);
  });

  it('decodes lockd candidates from JSON and foreign participants from their raw data', () => {
    const info = { node: 'web-1', host: 'h', pid: 42, since: '2026-01-01T00:00:00.000Z' };
    const stat = { czxid: 1n, ephemeralOwner: 2n, version: 0, numChildren: 0, ctimeMs: Date.UTC(2026, 0, 2) };
    assert.deepEqual(decodeCandidate(encodeCandidate(info), stat), info);
    assert.deepEqual(decodeCandidate(Buffer.from('curator-1'), stat), {
      node: 'curator-1',
      host: '',
      pid: 0,
      since: '2026-01-02T00:00:00.000Z',
    });
    assert.deepEqual(decodeCandidate(Buffer.from('{"node":"x"}'), stat), { node: 'x', host: '', pid: 0, since: '2026-01-02T00:00:00.000Z' });
    assert.equal(decodeCandidate(Buffer.from('[1,2]'), stat).node, '[1,2]', 'JSON that is not a candidate is foreign');
    assert.equal(decodeCandidate(null, stat).node, '');
  });

  it('records a lockd seat holder\'s count in its lease node and reads none from a Curator lease node', () => {
    const info = { node: 'web-1', host: 'h', pid: 42, since: '2026-01-01T00:00:00.000Z' };
    const stat = { czxid: 1n, ephemeralOwner: 2n, version: 0, numChildren: 0, ctimeMs: 0 };
    const data = encodeSeatHolder(info, 3);
    assert.equal(decodeSeatCount(data), 3);
    assert.deepEqual(decodeCandidate(data, stat), info, 'the count does not disturb the holder info');
    assert.equal(decodeSeatCount(Buffer.from('127.0.1.1')), undefined, 'Curator writes the client address');
    assert.equal(decodeSeatCount(Buffer.from('{"node":"x","seats":0}')), undefined);
    assert.equal(decodeSeatCount(Buffer.from('null')), undefined);
    assert.equal(decodeSeatCount(null), undefined);
  });
});
