import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderStatus } from '../../src/cli/render-status.js';
import type { JobStatus, StatusSnapshot } from '../../src/observe/status-snapshot.js';
import { summarize } from '../../src/observe/status-summary.js';

const now = Date.parse('2026-11-29T10:00:00.000Z');

const jobs: JobStatus[] = [
  {
    name: 'report',
    schedule: '0 2 * * *',
    timezone: 'Europe/Berlin',
    next: '2026-11-30T01:00:00.000Z',
    last: {
      job: 'report',
      slot: Date.parse('2026-11-29T01:00:00.000Z'),
      runId: 'report:1764378000000',
      scheduledAt: '2026-11-29T01:00:00.000Z',
      node: 'web-1',
      token: '1200',
      leaderToken: '1100',
      outcome: 'success',
      attempt: 1,
      durationMs: 12_500,
    },
    missedTotal: 0,
    skippedTotal: 0,
  },
  { name: 'tick', schedule: '*/5 * * * * *', timezone: 'UTC', next: '2026-11-29T10:00:05.000Z', last: null, missedTotal: 3, skippedTotal: 0 },
];

const withLeader: StatusSnapshot = {
  cluster: 'billing',
  backend: 'etcd',
  leader: { node: 'web-1', host: 'host-a', pid: 4242, since: '2026-11-29T09:55:00.000Z', token: '1234', ttlMs: 10_000, leaseRemainingMs: 7_400 },
  candidates: [
    { node: 'web-1', host: 'host-a', pid: 4242, since: '2026-11-29T09:55:00.000Z' },
    { node: 'web-2', host: 'host-b', pid: 777, since: '2026-11-29T09:56:00.000Z' },
  ],
  clocks: [
    { node: 'web-1', offsetMs: 120 },
    { node: 'web-2', offsetMs: 3_600_400 },
  ],
  storage: { budgetBytes: 512 * 1024 ** 2, estimateBytes: 950 * 1024 },
  locks: [],
  summary: summarize(jobs),
  jobs,
  at: '2026-11-29T10:00:00.000Z',
};

describe('lockd status, text form', () => {
  it('with a leader: leader line, waiting candidates, job table with plain-English schedules', () => {
    assert.equal(
      renderStatus(withLeader, now, false),
      [
        'cluster billing  (backend etcd)',
        'leader  web-1  host host-a pid 4242  token 1234  since 2026-11-29T09:55:00.000Z (5m ago)  lease 7s left of 10s',
        'waiting web-2 (host-b:777)',
        'clocks  web-2 +1h0.4s (against this machine)',
        'jobs    2: 1 ok, 0 failing, 0 missed, 0 running, 1 never run',
        'next    2026-11-29T10:00:05.000Z (in 5s): tick',
        'storage at most 950 KiB of the 512 MiB storage_budget (run records and job states, estimated from the config)',
        '',
        'JOB     SCHEDULE                         TZ             LAST                               NEXT                               MISSED',
        'report  0 2 * * * (At 02:00)             Europe/Berlin  success in 12.5s, 9h ago on web-1  2026-11-30T01:00:00.000Z (in 15h)  0',
        'tick    */5 * * * * * (Every 5 seconds)  UTC            -                                  2026-11-29T10:00:05.000Z (in 5s)   3',
        '',
      ].join('\n'),
    );
  });

  it('with no leader: says so plainly', () => {
    const text = renderStatus({ ...withLeader, leader: null, candidates: [], clocks: [], summary: summarize([]), jobs: [] }, now, false);
    assert.equal(
      text,
      [
        'cluster billing  (backend etcd)',
        'leader  none — no replica leads; scheduled slots are not running',
        'waiting -',
        '',
        'no jobs configured',
        '',
      ].join('\n'),
    );
  });

  it('shows the TTL when the backend cannot tell the lease remaining (ZooKeeper)', () => {
    const zk = { ...withLeader, leader: { ...withLeader.leader!, leaseRemainingMs: undefined } };
    assert.match(renderStatus(zk, now, false).split('\n')[1]!, /token 1234 .* lease ttl 10s$/);
  });

  it('shows a storage estimate over the budget in red', () => {
    const over = { ...withLeader, storage: { budgetBytes: 512 * 1024 ** 2, estimateBytes: 1.5 * 1024 ** 3 } };
    assert.match(renderStatus(over, now, true), /storage\u001b\[0m \u001b\[31mat most 1\.5 GiB of the 512 MiB storage_budget/);
  });

  it('colours only when asked (a TTY)', () => {
    assert.doesNotMatch(renderStatus(withLeader, now, false), /\u001b\[/);
    assert.match(renderStatus(withLeader, now, true), /\u001b\[32mweb-1\u001b\[0m/);
  });
});
