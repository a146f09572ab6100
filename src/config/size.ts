import { LockdError } from '../errors.js';

/** Bytes per unit: binary (KiB, MiB, GiB) and decimal (KB, MB, GB) prefixes, and plain bytes. */
const UNIT_BYTES: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
};
/** The units `parseSize` reads. */
export const SIZE_UNITS: readonly string[] = Object.keys(UNIT_BYTES);
const SIZE = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/;

/**
 * Parses a size such as `512MiB`, `1.5GiB`, `4KiB`, `100KB` or a bare integer (bytes) into whole
 * bytes (fractions round down). Throws `LockdError` with code `BAD_SIZE` naming the text and the
 * reason for anything else: no number, an unknown unit (units are case-sensitive: `k` is not `K`),
 * a result beyond `Number.MAX_SAFE_INTEGER`.
 */
export function parseSize(text: string): number {
  const match = SIZE.exec(text.trim());
  const units = SIZE_UNITS.join(', ');
  if (match === null) throw new LockdError('BAD_SIZE', `invalid size "${text}": expected a number and a unit (${units}), e.g. "512MiB"`);
  const [, number = '', unit = ''] = match;
  if (unit === '' && number.includes('.')) throw new LockdError('BAD_SIZE', `invalid size "${text}": a size in bytes is a whole number`);
  const perUnit = unit === '' ? 1 : UNIT_BYTES[unit];
  if (perUnit === undefined) throw new LockdError('BAD_SIZE', `invalid size "${text}": unknown unit "${unit}" (use ${units})`);
  const bytes = Math.floor(Number(number) * perUnit);
  if (!Number.isSafeInteger(bytes)) throw new LockdError('BAD_SIZE', `invalid size "${text}": too large`);
  return bytes;
}

/** `bytes` for people: `512 B`, `4 KiB`, `1.5 GiB` (binary units, up to one decimal). */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 || Number.isInteger(value) ? String(Math.round(value)) : value.toFixed(1).replace(/\.0$/, '');
  return `${shown} ${units[unit]}`;
}
