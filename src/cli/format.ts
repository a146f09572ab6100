import { formatDuration } from '../config/duration.js';

/** `2026-11-29 02:00:00 Europe/Berlin (01:00:00Z)`: a slot as an operator reads it. */
export function formatInZone(epochMs: number, timeZone: string): string {
  const local = new Intl.DateTimeFormat('sv-SE', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  }).format(new Date(epochMs));
  return timeZone === 'UTC' ? `${local} UTC` : `${local} ${timeZone} (${new Date(epochMs).toISOString().slice(11, 19)}Z)`;
}

/** `3m ago` / `in 12s` relative to `nowMs`, rounded to whole seconds. */
export function relative(epochMs: number, nowMs: number): string {
  const delta = Math.round((epochMs - nowMs) / 1000) * 1000;
  if (delta === 0) return 'now';
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

/** Pads cells into aligned columns separated by two spaces. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}
