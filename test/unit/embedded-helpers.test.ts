import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCandidateInfo } from '../../src/election/rows/candidate-info.js';
import { networkFilesystemName } from '../../src/election/embedded/open-database.js';
import { formatTimeout } from '../../src/election/embedded/sqlite-errors.js';
import { fencingWindow, renewalIntervalMs, vouchedMs } from '../../src/election/fencing-window.js';

describe('embedded backend helpers', () => {
  it('fencing window: margin TTL/5 with a floor per backend, at most TTL/3; the loss grace equals it; one missed renewal leaves a third of the vouched time', () => {
    assert.deepEqual(fencingWindow('embedded', 10_000), { marginMs: 2000, lossGraceMs: 2000 });
    assert.equal(fencingWindow('embedded', 2000).marginMs, 400);
    assert.equal(fencingWindow('embedded', 1000).marginMs, 300);
    assert.equal(fencingWindow('embedded', 600).marginMs, 200);
    assert.equal(fencingWindow('etcd', 3000).marginMs, 600);
    assert.equal(fencingWindow('etcd', 2000).marginMs, 500);
    assert.equal(fencingWindow('zookeeper', 2000).marginMs, 400);
    assert.equal(fencingWindow('zookeeper', 300).marginMs, 100);
    for (const kind of ['embedded', 'etcd', 'zookeeper'] as const) {
      for (const ttl of [500, 600, 1000, 2000, 10_000, 60_000]) {
        const usable = vouchedMs(kind, ttl);
        assert.ok(usable >= ttl / 3 - 1e-9, `${kind} TTL ${ttl}: at least a third of the TTL is vouched for`);
        assert.equal(renewalIntervalMs(kind, ttl), usable / (kind === 'etcd' ? 6 : 3), 'etcd renews more often, to ride out a raft election');
        assert.ok(2 * renewalIntervalMs(kind, ttl) < usable, `${kind} TTL ${ttl}: a second try must fit before the session stops vouching`);
      }
    }
  });

  it('network filesystems are recognised by statfs type, also when the type arrives sign-extended', () => {
    assert.equal(networkFilesystemName(0x6969), 'NFS');
    assert.equal(networkFilesystemName(0xff534d42), 'CIFS');
    assert.equal(networkFilesystemName(0xff534d42 | 0), 'CIFS');
    assert.equal(networkFilesystemName(0xfe534d42), 'SMB2');
    assert.equal(networkFilesystemName(0x65735546), 'FUSE');
    assert.equal(networkFilesystemName(0x01021997), '9p');
    assert.equal(networkFilesystemName(0xef53), undefined, 'ext4 is local');
    assert.equal(networkFilesystemName(0x01021994), undefined, 'tmpfs is local');
  });

  it('candidate info: parsed when well-formed, placeholders when missing or malformed', () => {
    const info = { node: 'web-1', host: 'h1', pid: 42, since: '2024-01-01T00:00:00.000Z' };
    assert.deepEqual(parseCandidateInfo(JSON.stringify(info)), info);
    const placeholder = { node: '(unknown)', host: '', pid: 0, since: '' };
    assert.deepEqual(parseCandidateInfo(null), placeholder);
    assert.deepEqual(parseCandidateInfo('not json'), placeholder);
    assert.deepEqual(parseCandidateInfo('[1,2]'), { ...placeholder });
    assert.deepEqual(parseCandidateInfo('{"node":7,"host":"h"}'), { ...placeholder, host: 'h' });
  });

  it('busy timeouts are named in seconds when whole, else in milliseconds', () => {
    assert.equal(formatTimeout(5000), '5s');
    assert.equal(formatTimeout(200), '200ms');
    assert.equal(formatTimeout(1500), '1500ms');
  });
});
