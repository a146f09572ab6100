import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nextSlot, nextSlots, slotsAfter, slotsBackFrom } from '../../src/scheduler/cron-slots.js';
import { UsageError } from '../../src/errors.js';

const iso = (ms: number[]): string[] => ms.map((m) => new Date(m).toISOString());
const at = (s: string): number => Date.parse(s);
const job = (schedule: string, timezone = 'UTC') => ({ schedule, timezone });

function take(gen: Generator<number>, n: number): number[] {
  const out: number[] = [];
  for (const v of gen) {
    out.push(v);
    if (out.length === n) break;
  }
  return out;
}

describe('cron slots: fields and macros', () => {
  it('5 fields: minute-level slots strictly after the start', () => {
    assert.deepEqual(iso(nextSlots(job('*/15 * * * *'), at('2026-01-01T12:00:00Z'), 3)), [
      '2026-01-01T12:15:00.000Z',
      '2026-01-01T12:30:00.000Z',
      '2026-01-01T12:45:00.000Z',
    ]);
  });

  it('6 fields: seconds first', () => {
    assert.deepEqual(iso(nextSlots(job('*/20 * * * * *'), at('2026-01-01T12:00:00.500Z'), 4)), [
      '2026-01-01T12:00:20.000Z',
      '2026-01-01T12:00:40.000Z',
      '2026-01-01T12:01:00.000Z',
      '2026-01-01T12:01:20.000Z',
    ]);
  });

  it('macros: @hourly @daily @weekly @monthly @yearly', () => {
    const from = at('2026-01-01T12:34:00Z');
    assert.deepEqual(
      ['@hourly', '@daily', '@weekly', '@monthly', '@yearly'].map((m) => iso(nextSlots(job(m), from, 1))[0]),
      ['2026-01-01T13:00:00.000Z', '2026-01-02T00:00:00.000Z', '2026-01-04T00:00:00.000Z', '2026-02-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    );
  });

  it('time zone: wall time of the job zone, not of UTC', () => {
    assert.deepEqual(iso(nextSlots(job('0 2 * * *', 'Asia/Tokyo'), at('2026-01-01T00:00:00Z'), 2)), [
      '2026-01-01T17:00:00.000Z',
      '2026-01-02T17:00:00.000Z',
    ]);
    assert.deepEqual(iso(nextSlots(job('0 9 * * 1', 'America/Los_Angeles'), at('2026-07-01T00:00:00Z'), 1)), ['2026-07-06T16:00:00.000Z']);
  });

  it('a slot equal to the start is not "after" it', () => {
    assert.equal(nextSlot(job('0 * * * *'), at('2026-01-01T12:00:00Z')), at('2026-01-01T13:00:00Z'));
  });

  it('nextSlots with count 0 is empty', () => {
    assert.deepEqual(nextSlots(job('* * * * *'), 0, 0), []);
  });

  it('invalid expression or zone -> UsageError', () => {
    assert.throws(() => nextSlots(job('not cron'), 0, 1), UsageError);
    assert.throws(() => nextSlots(job('* * * * *', 'Nowhere/Zone'), 0, 1), UsageError);
  });

  it('slotsBackFrom includes the bound and goes newest first', () => {
    assert.deepEqual(iso(take(slotsBackFrom(job('0 * * * *'), at('2026-01-01T12:00:00Z')), 3)), [
      '2026-01-01T12:00:00.000Z',
      '2026-01-01T11:00:00.000Z',
      '2026-01-01T10:00:00.000Z',
    ]);
  });
});

describe('cron slots: DST, Europe/Berlin', () => {
  const tz = 'Europe/Berlin';

  it('spring forward: 02:30 does not exist on 2026-03-29 -> runs at 03:00 CEST (gap end)', () => {
    assert.deepEqual(iso(nextSlots(job('30 2 * * *', tz), at('2026-03-27T12:00:00Z'), 3)), [
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST, first instant after the gap
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('spring forward: 02:00 and 02:30 both fall in the gap -> one run at 03:00', () => {
    assert.deepEqual(iso(nextSlots(job('0,30 2 * * *', tz), at('2026-03-28T12:00:00Z'), 3)), [
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
  });

  it('fall back: 02:30 occurs twice on 2026-10-25 -> runs once, at the first (CEST)', () => {
    assert.deepEqual(iso(nextSlots(job('30 2 * * *', tz), at('2026-10-24T12:00:00Z'), 2)), [
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-26T01:30:00.000Z', // 02:30 CET next day
    ]);
  });

  it('hourly across both transitions', () => {
    assert.deepEqual(iso(nextSlots(job('0 * * * *', tz), at('2026-03-28T23:30:00Z'), 3)), [
      '2026-03-29T00:00:00.000Z', // 01:00 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST (02:00 does not exist and maps here too)
      '2026-03-29T02:00:00.000Z', // 04:00 CEST
    ]);
    assert.deepEqual(iso(nextSlots(job('0 * * * *', tz), at('2026-10-24T22:30:00Z'), 4)), [
      '2026-10-24T23:00:00.000Z', // 01:00 CEST
      '2026-10-25T00:00:00.000Z', // 02:00 CEST; 02:00 CET is the same wall time: not again
      '2026-10-25T02:00:00.000Z', // 03:00 CET
      '2026-10-25T03:00:00.000Z', // 04:00 CET
    ]);
  });

  it('every 15 minutes across fall back: the repeated hour runs once', () => {
    assert.deepEqual(iso(nextSlots(job('*/15 * * * *', tz), at('2026-10-25T00:40:00Z'), 3)), [
      '2026-10-25T00:45:00.000Z', // 02:45 CEST
      '2026-10-25T02:00:00.000Z', // 03:00 CET
      '2026-10-25T02:15:00.000Z',
    ]);
  });

  it('every 15 minutes across spring forward: the gap collapses into 03:00', () => {
    assert.deepEqual(iso(nextSlots(job('*/15 * * * *', tz), at('2026-03-29T00:40:00Z'), 3)), [
      '2026-03-29T00:45:00.000Z', // 01:45 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST
      '2026-03-29T01:15:00.000Z', // 03:15 CEST
    ]);
  });

  it('starting inside the repeated hour (second pass) yields no repeated slot', () => {
    // 02:10 CET, the second pass of 02:00-03:00.
    assert.deepEqual(iso(nextSlots(job('*/15 * * * *', tz), at('2026-10-25T01:10:00Z'), 1)), ['2026-10-25T02:00:00.000Z']);
  });

  it('backwards across both transitions gives the same slots, newest first', () => {
    const fwd = nextSlots(job('*/15 * * * *', tz), at('2026-10-24T23:00:00Z'), 12);
    const back = take(slotsBackFrom(job('*/15 * * * *', tz), fwd[fwd.length - 1] ?? 0), 12);
    assert.deepEqual(back.reverse(), fwd);
    const fwd2 = nextSlots(job('0,30 * * * *', tz), at('2026-03-28T23:00:00Z'), 6);
    const back2 = take(slotsBackFrom(job('0,30 * * * *', tz), fwd2[fwd2.length - 1] ?? 0), 6);
    assert.deepEqual(back2.reverse(), fwd2);
  });
});

describe('cron slots: DST, America/New_York', () => {
  const tz = 'America/New_York';

  it('spring forward: 02:30 does not exist on 2026-03-08 -> runs at 03:00 EDT', () => {
    assert.deepEqual(iso(nextSlots(job('30 2 * * *', tz), at('2026-03-07T12:00:00Z'), 2)), [
      '2026-03-08T07:00:00.000Z', // 03:00 EDT
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
    ]);
  });

  it('fall back: 01:30 occurs twice on 2026-11-01 -> runs once, at the first (EDT)', () => {
    assert.deepEqual(iso(nextSlots(job('30 1 * * *', tz), at('2026-10-31T12:00:00Z'), 2)), [
      '2026-11-01T05:30:00.000Z', // 01:30 EDT
      '2026-11-02T06:30:00.000Z', // 01:30 EST
    ]);
  });

  it('hourly and every 15 minutes across fall back', () => {
    assert.deepEqual(iso(nextSlots(job('0 * * * *', tz), at('2026-11-01T04:30:00Z'), 3)), [
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T07:00:00.000Z', // 02:00 EST (01:00 EST skipped: already ran)
      '2026-11-01T08:00:00.000Z',
    ]);
    assert.deepEqual(iso(nextSlots(job('*/15 * * * *', tz), at('2026-11-01T05:40:00Z'), 3)), [
      '2026-11-01T05:45:00.000Z', // 01:45 EDT
      '2026-11-01T07:00:00.000Z', // 02:00 EST
      '2026-11-01T07:15:00.000Z',
    ]);
  });

  it('hourly and every 15 minutes across spring forward', () => {
    assert.deepEqual(iso(nextSlots(job('0 * * * *', tz), at('2026-03-08T06:30:00Z'), 2)), [
      '2026-03-08T07:00:00.000Z', // 03:00 EDT (02:00 EST does not exist and maps here)
      '2026-03-08T08:00:00.000Z',
    ]);
    assert.deepEqual(iso(nextSlots(job('*/15 * * * *', tz), at('2026-03-08T06:40:00Z'), 3)), [
      '2026-03-08T06:45:00.000Z', // 01:45 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT
      '2026-03-08T07:15:00.000Z',
    ]);
  });

  it('slotsAfter never yields a slot at or before its start, and is strictly increasing', () => {
    const start = at('2026-11-01T04:00:00Z');
    const slots = take(slotsAfter(job('*/5 * * * *', tz), start), 60);
    assert.ok(slots.every((s, i) => s > start && (i === 0 || s > (slots[i - 1] ?? 0))));
    // 60 slots of 5 minutes from 00:00 EDT would end at 09:00Z; the second pass of 01:00-01:55
    // (12 labels already run in EDT) is left out, so the 60th slot is an hour later.
    assert.equal(slots[slots.length - 1], at('2026-11-01T10:00:00Z'));
  });
});

describe('cron slots: a backward search bounded by notBeforeMs', () => {
  /** Every slot in (notBefore, atOrBefore], by the unbounded search, newest first. */
  const unbounded = (j: { schedule: string; timezone: string }, atOrBefore: number, notBefore: number): number[] => {
    const out: number[] = [];
    for (const slot of slotsBackFrom(j, atOrBefore)) {
      if (slot <= notBefore) break;
      out.push(slot);
    }
    return out;
  };
  const bounded = (j: { schedule: string; timezone: string }, atOrBefore: number, notBefore: number): number[] =>
    [...slotsBackFrom(j, atOrBefore, notBefore)].filter((slot) => slot > notBefore);

  it('yields every slot after the bound, in UTC and across both DST transitions', () => {
    const cases: Array<[string, string, string, string]> = [
      ['*/15 * * * *', 'UTC', '2026-01-01T12:00:00Z', '2026-01-01T10:59:00Z'],
      ['*/15 * * * *', 'Europe/Berlin', '2026-10-25T03:00:00Z', '2026-10-24T23:00:00Z'],
      ['0,30 * * * *', 'Europe/Berlin', '2026-03-29T03:00:00Z', '2026-03-28T23:00:00Z'],
      ['30 1 * * *', 'America/New_York', '2026-11-03T00:00:00Z', '2026-10-30T00:00:00Z'],
      ['*/20 * * * * *', 'UTC', '2026-01-01T12:00:10Z', '2026-01-01T11:58:20Z'],
      ['0 0 * * * *', 'UTC', '2026-01-01T12:00:00Z', '2026-01-01T12:00:00Z'],
    ];
    for (const [schedule, timezone, atOrBefore, notBefore] of cases) {
      const j = job(schedule, timezone);
      assert.deepEqual(iso(bounded(j, at(atOrBefore), at(notBefore))), iso(unbounded(j, at(atOrBefore), at(notBefore))), `${schedule} ${timezone}`);
    }
    // Starting inside the repeated hour (02:10 CET, second pass): 02:00 CET has the label of 02:00 CEST.
    const j = job('*/15 * * * *', 'Europe/Berlin');
    assert.deepEqual(iso(bounded(j, at('2026-10-25T01:10:00Z'), at('2026-10-25T00:20:00Z'))), iso(unbounded(j, at('2026-10-25T01:10:00Z'), at('2026-10-25T00:20:00Z'))));
  });

  it('a yearly job with no slot since the bound: the search stops at the bound instead of a year back', () => {
    const j = job('30 15 10 2 12 *');
    assert.deepEqual(bounded(j, at('2026-12-02T10:15:20Z'), at('2026-12-02T10:14:50Z')), []);
    assert.deepEqual(iso(bounded(j, at('2026-12-02T10:15:40Z'), at('2026-12-02T10:14:50Z'))), ['2026-12-02T10:15:30.000Z']);
  });
});
