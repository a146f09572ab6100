import { LockdError } from '../errors.js';

const UNIT_MS: Readonly<Record<string, bigint>> = { ms: 1n, s: 1000n, m: 60_000n, h: 3_600_000n };
/** The units `parseDuration` reads. */
export const DURATION_UNITS: readonly string[] = Object.keys(UNIT_MS);
const UNITS_HINT = '(use ms, s, m or h, e.g. "1h30m")';
const PART = /(\d*)(?:\.(\d*))?([^\d.]*)/y;

function bad(text: string, why: string): LockdError {
  return new LockdError('BAD_DURATION', `invalid duration "${text}": ${why}`);
}

/**
 * Parses a Go-style duration (`500ms`, `10s`, `5m`, `1h30m`, `1.5s`, `0s`, or a bare `0`) into
 * milliseconds. Units are `ms`, `s`, `m` and `h`, in any order, as in Go. lockd works in whole
 * milliseconds, so finer units (`us`, `ns`) and fractions below a millisecond are rejected rather
 * than rounded. Throws `LockdError` with code `BAD_DURATION` (message names the text and the
 * reason) for anything else, including negative values and values beyond `Number.MAX_SAFE_INTEGER`.
 */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  if (text === '') throw bad(text, 'empty');
  if (text.startsWith('-')) throw bad(text, 'durations cannot be negative');
  let total = 0n;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const match = PART.exec(text);
    const [, whole = '', fraction, unit = ''] = match ?? [];
    if (match === null || match[0] === '' || (whole === '' && !fraction)) {
      throw bad(text, `expected a number at "${text.slice(at)}" ${UNITS_HINT}`);
    }
    if (unit === '') {
      const rest = text.slice(PART.lastIndex);
      throw bad(text, rest === '' ? `missing unit ${UNITS_HINT}` : `unexpected "${rest}"`);
    }
    const perUnit = UNIT_MS[unit];
    if (perUnit === undefined) {
      const hint = unit === 'd' ? '(use 24h for a day)' : UNITS_HINT;
      throw bad(text, `unknown unit "${unit}" ${hint}`);
    }
    // Fixed-point arithmetic on the digits, so `1.001s` is exactly 1001 ms and not 1000.999...
    const digits = fraction ?? '';
    const scale = 10n ** BigInt(digits.length);
    const scaled = BigInt(whole || '0') * scale + BigInt(digits || '0');
    if ((scaled * perUnit) % scale !== 0n) throw bad(text, 'finer than a millisecond');
    total += (scaled * perUnit) / scale;
  }
  if (total > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(text, 'too large');
  return Number(total);
}

/**
 * Formats milliseconds for display in the syntax `parseDuration` reads: `90000` -> `1m30s`,
 * `1500` -> `1.5s`, `500` -> `500ms`, `0` -> `0s`; zero components are left out (`3600000` ->
 * `1h`). Fractions of a millisecond are rounded; negative values get a leading `-` (which
 * `parseDuration` refuses, as config durations are never negative). Throws `LockdError`
 * (`BAD_DURATION`) for a non-finite number.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new LockdError('BAD_DURATION', `cannot format ${ms} as a duration`);
  const rounded = Math.round(ms);
  if (rounded < 0) return `-${formatDuration(-rounded)}`;
  if (rounded < 1000) return rounded === 0 ? '0s' : `${rounded}ms`;
  const hours = Math.floor(rounded / 3_600_000);
  const minutes = Math.floor((rounded % 3_600_000) / 60_000);
  const seconds = Math.floor((rounded % 60_000) / 1000);
  const millis = rounded % 1000;
  let out = '';
  if (hours > 0) out += `${hours}h`;
  if (minutes > 0) out += `${minutes}m`;
  if (millis > 0) out += `${seconds}.${String(millis).padStart(3, '0').replace(/0+$/, '')}s`;
  else if (seconds > 0) out += `${seconds}s`;
  return out;
}
