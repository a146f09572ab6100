import { CronExpressionParser } from 'cron-parser';
import { LockdError } from '../errors.js';

/**
 * The macros lockd accepts, mapped to what cron-parser reads (it knows no `@midnight`). Other
 * cron-parser aliases (`@minutely`, `@weekdays`, ...) are left out: DESIGN §4 names this set.
 */
const MACROS: Readonly<Record<string, string>> = {
  '@hourly': '@hourly',
  '@daily': '@daily',
  '@midnight': '@daily',
  '@weekly': '@weekly',
  '@monthly': '@monthly',
  '@yearly': '@yearly',
  '@annually': '@annually',
};

/** A field that is, or starts, a Jenkins-style `H` token (`H`, `H/5`, `H(0-29)`, `1,H`). */
const HASHED = /(?:^|[^A-Za-z])H(?![A-Za-z])/;

/**
 * Answers of `isTimeZone` and `normalizeSchedule`, which depend on their arguments alone and cost
 * 0.1–0.5 ms a call (Intl, cron-parser with luxon): a config of 10,000 jobs repeats few zones and
 * expressions, and is read again on every reload. Emptied when it reaches `REMEMBERED` entries.
 */
const zones = new Map<string, boolean>();
const schedules = new Map<string, { normalized: string; problem?: undefined } | { problem: string }>();
const REMEMBERED = 10_000;

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= REMEMBERED) cache.clear();
  cache.set(key, value);
}

/**
 * True when `name` is an IANA time zone this runtime knows (case-insensitively, as Intl does).
 * Never throws.
 */
export function isTimeZone(name: string): boolean {
  let known = zones.get(name);
  if (known === undefined) {
    known = name !== '' && constructs(name);
    remember(zones, name, known);
  }
  return known;
}

function constructs(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a cron expression exactly as the scheduler will read it with cron-parser, and returns
 * the form to hand to `CronExpressionParser.parse(expr, { tz })`: trimmed, with `@midnight`
 * spelled `@daily`. Accepts 5 fields, 6 with seconds first, and the macros `@hourly` `@daily`
 * `@midnight` `@weekly` `@monthly` `@yearly` `@annually`. Rejects what cron-parser would
 * silently reinterpret (fewer than 5 fields are padded by it) and `H` fields (cron-parser
 * picks them at random without a seed, so replicas would disagree on the slots). `timezone`
 * must already be valid (see `isTimeZone`). Throws `LockdError` (`BAD_SCHEDULE`) with a message
 * `bad cron expression "...": <why>`.
 */
export function normalizeSchedule(expression: string, timezone: string): string {
  const key = `${timezone}\n${expression}`;
  let checked = schedules.get(key);
  if (checked === undefined) {
    try {
      checked = { normalized: checkSchedule(expression, timezone) };
    } catch (err) {
      if (!(err instanceof LockdError)) throw err;
      checked = { problem: err.message };
    }
    remember(schedules, key, checked);
  }
  if (checked.problem !== undefined) throw new LockdError('BAD_SCHEDULE', checked.problem);
  return checked.normalized;
}

function checkSchedule(expression: string, timezone: string): string {
  const fail = (why: string): LockdError =>
    new LockdError('BAD_SCHEDULE', `bad cron expression "${expression}": ${why}`);
  const trimmed = expression.trim();
  let normalized = trimmed;
  if (trimmed.startsWith('@')) {
    const macro = MACROS[trimmed];
    if (macro === undefined) throw fail(`unknown macro (use one of ${Object.keys(MACROS).join(', ')})`);
    normalized = macro;
  } else {
    const fields = trimmed === '' ? [] : trimmed.split(/\s+/);
    if (fields.length !== 5 && fields.length !== 6) {
      throw fail(
        `${fields.length} field${fields.length === 1 ? '' : 's'}; expected 5 (minute hour day-of-month month ` +
          'day-of-week) or 6 (with seconds first)',
      );
    }
    if (fields.some((field) => HASHED.test(field))) throw fail('"H" (hashed) fields are not supported');
  }
  try {
    // `next()` as well as `parse()`: some impossible dates only surface when a slot is sought.
    CronExpressionParser.parse(normalized, { tz: timezone }).next();
  } catch (err) {
    throw fail(err instanceof Error ? err.message : String(err));
  }
  return normalized;
}
