import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCandidateInfo } from '../../src/election/embedded/candidate-info.js';
import { networkFilesystemName } from '../../src/election/embedded/open-database.js';
import { heartbeatIntervalMs, safetyMarginMs } from '../../src/election/embedded/session.js';
import { formatTimeout } from '../../src/election/embedded/sqlite-errors.js';

describe('embedded backend helpers', () => {
  it('safety margin is max(300 ms, TTL/5), at most TTL/3; one missed heartbeat leaves a third of the window', () => {
    assert.equal(safetyMarginMs(10_000), 2000);
    assert.equal(safetyMarginMs(2000), 400);
    assert.equal(safetyMarginMs(1000), 300);
    assert.equal(safetyMarginMs(600), 200);
    for (const ttl of [500, 600, 1000, 2000, 10_000, 60_000]) {
      const usable = ttl - safetyMarginMs(ttl);
      assert.ok(usable > 0, `TTL ${ttl}: the deadline must come after the renewal`);
      assert.equal(heartbeatIntervalMs(ttl), usable / 3);
      assert.ok(2 * heartbeatIntervalMs(ttl) < usable, `TTL ${ttl}: a second try must fit before the deadline`);
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
