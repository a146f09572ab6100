import { CronExpressionParser, type CronExpression } from 'cron-parser';
import type { JobConfig } from '../config/types.js';
import { UsageError } from '../errors.js';

/**
 * Cron slots with lockd's DST rules (DESIGN §4).
 *
 * cron-parser 5 gets both transitions wrong for lockd's promise: a wall time inside a
 * spring-forward gap is shifted by the offset change (Berlin `30 2 * * *` fires at 03:30 CEST, not
 * at the gap's end, and `0,30 2 * * *` fires twice), and in the fall-back hour every minute-level
 * expression fires twice (hourly fires at 02:00 CEST and again at 02:00 CET). So cron-parser only
 * matches fields here, in UTC where no wall time is skipped or repeated; the "UTC" instants it
 * returns are read as naive wall-clock labels of the job's zone and resolved by `resolveWall`:
 * a label that occurs twice maps to its first instant, a label in a gap maps to the first instant
 * after the gap. The mapping is monotonic, so equal neighbours are deduplicated and order is kept.
 */

type SlotSource = Pick<JobConfig, 'schedule' | 'timezone'>;

const HOUR = 3_600_000;
// Real UTC offsets lie in [-12h, +14h]; sampling an hour beyond both ends catches any transition
// that can affect a given wall-clock label.
const EARLY_SAMPLE_MS = 15 * HOUR;
const LATE_SAMPLE_MS = 13 * HOUR;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: timezone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch (err) {
      throw new UsageError(`unknown time zone ${JSON.stringify(timezone)}: ${String(err)}`);
    }
    formatters.set(timezone, f);
  }
  return f;
}

/** The wall-clock label of `ms` in `timezone`, as epoch ms of the same label in UTC. */
function wallOf(ms: number, timezone: string): number {
  if (timezone === 'UTC') return ms;
  const parts: Record<string, number> = {};
  for (const p of formatterFor(timezone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const whole = Date.UTC(parts.year ?? 0, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  return whole + (((ms % 1000) + 1000) % 1000);
}

const offsetAt = (ms: number, timezone: string): number => wallOf(ms, timezone) - ms;

/**
 * The instant a wall-clock label names in `timezone`: the first of two when the label repeats
 * (fall back), the first instant after the gap when it does not exist (spring forward).
 */
function resolveWall(wall: number, timezone: string): number {
  if (timezone === 'UTC') return wall;
  const early = offsetAt(wall - EARLY_SAMPLE_MS, timezone);
  const late = offsetAt(wall + LATE_SAMPLE_MS, timezone);
  if (early === late) return wall - early;
  const valid = [wall - early, wall - late].filter((t) => wallOf(t, timezone) === wall);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap: the transition instant lies between the two candidates; find the first instant
  // already on the later offset.
  let lo = Math.min(wall - early, wall - late);
  let hi = Math.max(wall - early, wall - late);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetAt(mid, timezone) === late) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** `wallFloor`: cron-parser's `startDate`, below which a backward search gives up (see `slotsBackFrom`). */
function parseInUtc(schedule: string, wallStart: number, wallFloor?: number): CronExpression {
  try {
    return CronExpressionParser.parse(schedule, { tz: 'UTC', currentDate: new Date(wallStart), ...(wallFloor === undefined ? {} : { startDate: new Date(wallFloor) }) });
  } catch (err) {
    throw new UsageError(`invalid cron expression ${JSON.stringify(schedule)}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The next (or previous) matching wall label, or undefined past cron-parser's search limits. */
function step(expr: CronExpression, direction: 'next' | 'prev'): number | undefined {
  try {
    return (direction === 'next' ? expr.next() : expr.prev()).getTime();
  } catch {
    // cron-parser signals "no further match" (time span or loop limit) only by throwing.
    return undefined;
  }
}

/**
 * Slots strictly after `afterMs`, ascending, until cron-parser finds no further match. Throws `UsageError` for an invalid expression or
 * time zone (the config loader rejects those first).
 */
export function* slotsAfter(job: SlotSource, afterMs: number): Generator<number, void, undefined> {
  const expr = parseInUtc(job.schedule, wallOf(afterMs, job.timezone));
  let last = afterMs;
  for (let wall = step(expr, 'next'); wall !== undefined; wall = step(expr, 'next')) {
    const slot = resolveWall(wall, job.timezone);
    // Labels of a repeated hour that were already passed resolve to earlier instants; skip them.
    if (slot <= last) continue;
    last = slot;
    yield slot;
  }
}

/**
 * Slots at or before `atOrBeforeMs`, newest first, until the expression's start of time or, with
 * `notBeforeMs`, until the search passes that instant: every slot after `notBeforeMs` is yielded,
 * a slot at or before it may or may not be. Throws like `slotsAfter`.
 *
 * The bound matters for sparse schedules: cron-parser walks back day by day, so the slot before a
 * yearly job's last one costs about 5 ms to find, and a new leader of 500 such jobs spent 2.5 s
 * planning backlogs they did not have (its `lastSlot` was seconds ago). With the bound, the search
 * stops at the first label below `notBeforeMs`'s. That label floor is exact because lockd's label →
 * instant mapping (`resolveWall`) is monotonic and maps a label to its first instant: no label
 * below the wall label of `notBeforeMs` names an instant after `notBeforeMs`.
 */
export function* slotsBackFrom(job: SlotSource, atOrBeforeMs: number, notBeforeMs?: number): Generator<number, void, undefined> {
  // cron-parser's prev() is strict; one ms later makes `atOrBeforeMs` itself a candidate. The
  // floor only applies below the start (cron-parser would move the start up to it).
  const start = wallOf(atOrBeforeMs, job.timezone) + 1;
  const floor = notBeforeMs === undefined ? undefined : Math.min(wallOf(notBeforeMs, job.timezone), start);
  const expr = parseInUtc(job.schedule, start, floor);
  let last = atOrBeforeMs + 1;
  for (let wall = step(expr, 'prev'); wall !== undefined; wall = step(expr, 'prev')) {
    const slot = resolveWall(wall, job.timezone);
    if (slot >= last) continue;
    last = slot;
    yield slot;
  }
}

/** The first slot strictly after `afterMs`. Throws like `slotsAfter`. */
export function nextSlot(job: SlotSource, afterMs: number): number {
  const first = slotsAfter(job, afterMs).next();
  if (first.done) throw new UsageError(`cron expression ${JSON.stringify(job.schedule)} has no future slot`);
  return first.value;
}

/**
 * Next `count` slots of a job strictly after `afterMs`, ascending epoch ms, with lockd's DST rules
 * (for `lockd validate` and `lockd status`). Throws `UsageError` for an invalid expression or time
 * zone.
 */
export function nextSlots(job: SlotSource, afterMs: number, count: number): number[] {
  const out: number[] = [];
  if (count <= 0) return out;
  for (const slot of slotsAfter(job, afterMs)) {
    out.push(slot);
    if (out.length >= count) break;
  }
  return out;
}
