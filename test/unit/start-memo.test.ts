import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextSlot } from '../../src/scheduler/cron-slots.js';
import { planBacklog } from '../../src/scheduler/misfire.js';
import { StartMemo } from '../../src/scheduler/start-memo.js';
import { jobConfig } from '../helpers/scheduler-harness.js';

const NOW = Date.parse('2026-03-29T00:30:00.000Z');
const LAST = Date.parse('2026-03-28T20:00:00.000Z');

describe('StartMemo: one answer per distinct question of a term start', () => {
  it('answers exactly as nextSlot and planBacklog, for every field that changes the answer', () => {
    const memo = new StartMemo();
    const jobs = [
      jobConfig('hourly'),
      jobConfig('hourly-again', { schedule: '0 * * * *' }),
      jobConfig('hourly-utc', { schedule: '0 * * * *' }),
      jobConfig('hourly-berlin', { schedule: '0 * * * *', timezone: 'Europe/Berlin' }),
      jobConfig('night-berlin', { schedule: '30 2 * * *', timezone: 'Europe/Berlin' }),
      jobConfig('skip', { schedule: '0 * * * *', misfire: 'skip' }),
      jobConfig('all', { schedule: '0 * * * *', misfire: 'run_all' }),
      jobConfig('short-deadline', { schedule: '0 * * * *', deadlineMs: 1000 }),
      jobConfig('short-history', { schedule: '0 * * * *', history: 1 }),
    ];
    for (const pass of [1, 2]) {
      for (const job of jobs) {
        for (const after of [NOW, NOW + 3_600_000, LAST]) {
          assert.equal(memo.next(job, after), nextSlot(job, after), `${job.name} after ${after} (pass ${pass})`);
          assert.deepEqual(memo.backlog(job, after, NOW), planBacklog(job, after, NOW, 'no_leader'), `${job.name} since ${after} (pass ${pass})`);
        }
        assert.deepEqual(memo.backlog(job, LAST, NOW + 1), planBacklog(job, LAST, NOW + 1, 'no_leader'), `${job.name} until another now`);
      }
    }
  });

  it('a schedule cron-parser refuses: next answers undefined (the timer asks again and reports it), backlog throws', () => {
    const memo = new StartMemo();
    const bad = jobConfig('bad', { schedule: 'not cron' });
    assert.equal(memo.next(bad, NOW), undefined);
    assert.equal(memo.next(bad, NOW), undefined);
    assert.throws(() => memo.backlog(bad, LAST, NOW), { name: 'UsageError' });
  });
});
