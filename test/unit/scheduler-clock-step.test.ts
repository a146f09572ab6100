import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TIMER_MS } from '../../src/scheduler/scheduler.js';
import { harness, jobConfig } from '../helpers/scheduler-harness.js';

const T0 = Date.parse('2026-05-04T10:00:30.000Z');
const M = (n: number): number => Date.parse('2026-05-04T10:00:00.000Z') + n * 60_000;

describe('wall-clock steps while leading', () => {
  it('a forward step the other candidates do not share: nothing of it is recorded, lastSlot stays, the leader is told to resign', async () => {
    let resigned = 0;
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success', clockTrusted: async () => false, untrustedClock: () => void (resigned += 1) });
    await h.scheduler.start();
    await h.clock.advanceTo(M(2) + 100);
    h.clock.stepWall(3_600_000);
    await h.clock.advance(MAX_TIMER_MS);
    await h.scheduler.idle();
    assert.equal(resigned, 1);
    assert.deepEqual(h.records('j').map((r) => r.slot), [M(1), M(2)], 'no record for the hour the clock jumped over');
    assert.equal(h.state('j')?.lastSlot, M(2), 'lastSlot is not moved into the wrong future');
  });

  it('a forward step the majority shares is real: the slots jumped over follow misfire (run_once), reason clock_step', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    await h.clock.advanceTo(M(1) + 100);
    h.clock.stepWall(10 * 60_000);
    await h.clock.advance(MAX_TIMER_MS);
    await h.scheduler.idle();
    // The timer meant for 10:02 fires at 10:12 by the stepped wall clock: 10:02..10:12 are due.
    const records = h.records('j').filter((r) => r.slot > M(1) && r.slot <= M(12));
    assert.equal(records.length, 11);
    assert.ok(records.slice(0, -1).every((r) => r.outcome === 'missed' && r.reason === 'clock_step'), JSON.stringify(records.map((r) => [r.slot, r.outcome, r.reason])));
    assert.equal(records.at(-1)?.outcome, 'success', 'the newest slot runs');
  });

  it('a backward step: no slot name runs twice, and the job goes on with the first slot not yet handled', async () => {
    const h = await harness([jobConfig('j')], { now: T0, auto: 'success' });
    await h.scheduler.start();
    await h.clock.advanceTo(M(5) + 100);
    h.clock.stepWall(-3 * 60_000);
    // Real time passes; the wall clock reaches 10:06 again only after 3 minutes.
    await h.clock.advance(4 * 60_000);
    await h.scheduler.idle();
    const slots = h.records('j').map((r) => r.slot);
    assert.equal(new Set(slots).size, slots.length, 'a slot ran twice');
    assert.deepEqual(slots, [M(1), M(2), M(3), M(4), M(5), M(6)]);
    assert.equal(h.record('j', M(6))?.outcome, 'success');
  });
});
