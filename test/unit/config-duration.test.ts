import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from '../../src/config/duration.js';
import { LockdError } from '../../src/errors.js';

describe('parseDuration', () => {
  const good: [string, number][] = [
    ['0', 0],
    ['0s', 0],
    ['0ms', 0],
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1_500],
    ['.5s', 500],
    ['0.5m', 30_000],
    ['1.001s', 1_001],
    ['2.5h', 9_000_000],
    ['1h1m1s1ms', 3_661_001],
    ['1s1h', 3_601_000],
    ['90s', 90_000],
  ];
  for (const [text, ms] of good) {
    it(`reads ${JSON.stringify(text)} as ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['10', /missing unit/],
    ['1h30', /missing unit/],
    ['10x', /unknown unit "x"/],
    ['1d', /unknown unit "d" \(use 24h for a day\)/],
    ['1H', /unknown unit "H"/],
    ['100us', /unknown unit "us"/],
    ['5 seconds', /unknown unit " seconds"/],
    ['-1s', /cannot be negative/],
    ['+1s', /expected a number/],
    [' 1s', /expected a number/],
    ['s', /expected a number/],
    ['.s', /expected a number/],
    ['1..5s', /unexpected "\.5s"/],
    ['1.0005s', /finer than a millisecond/],
    ['99999999999999h', /too large/],
  ];
  for (const [text, why] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseDuration(text),
        (err: unknown) =>
          err instanceof LockdError &&
          err.code === 'BAD_DURATION' &&
          err.message.startsWith(`invalid duration ${JSON.stringify(text)}: `) &&
          why.test(err.message),
      );
    });
  }
});

describe('formatDuration', () => {
  const table: [number, string][] = [
    [0, '0s'],
    [1, '1ms'],
    [999, '999ms'],
    [1_000, '1s'],
    [1_500, '1.5s'],
    [61_001, '1m1.001s'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [3_600_500, '1h0.5s'],
    [5_400_000, '1h30m'],
    [86_400_000, '24h'],
  ];
  for (const [ms, text] of table) {
    it(`formats ${ms} ms as ${text}`, () => {
      assert.equal(formatDuration(ms), text);
    });
  }

  it('round-trips through parseDuration', () => {
    const values = [0, 1, 7, 10, 999, 1_000, 1_001, 1_010, 59_999, 60_000, 60_001, 3_599_999, 3_600_000];
    values.push(86_399_999, 123_456_789, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER);
    for (const ms of values) assert.equal(parseDuration(formatDuration(ms)), ms, `${ms} -> ${formatDuration(ms)}`);
  });

  it('rounds fractions of a millisecond and signs negative values', () => {
    assert.equal(formatDuration(1.4), '1ms');
    assert.equal(formatDuration(999.6), '1s');
    assert.equal(formatDuration(-1_500), '-1.5s');
  });

  it('refuses a non-finite number', () => {
    for (const ms of [NaN, Infinity, -Infinity]) {
      assert.throws(() => formatDuration(ms), (err: unknown) => err instanceof LockdError && err.code === 'BAD_DURATION');
    }
  });
});
