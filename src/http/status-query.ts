import { UsageError } from '../errors.js';

/** Jobs per `/status` page unless `limit` says otherwise. */
export const DEFAULT_STATUS_LIMIT = 100;
/** The largest `limit`: a page costs one backend read per job, on the daemon's event loop. */
export const MAX_STATUS_LIMIT = 1000;

/** The most recent runs `/status?recent=` returns per job (the status page's timeline). */
export const MAX_STATUS_RECENT = 20;

/**
 * `?limit=&offset=&recent=` of `/status`: `limit` 1..1000 (default 100), `offset` >= 0 (default
 * 0), `recent` 0..20 (default 0: no `recent` per job), all decimal integers. Throws `UsageError`
 * naming the bad parameter (answered with 400).
 */
export function parseStatusQuery(params: URLSearchParams): { limit: number; offset: number; recent: number } {
  return {
    limit: integer(params, 'limit', DEFAULT_STATUS_LIMIT, 1, MAX_STATUS_LIMIT),
    offset: integer(params, 'offset', 0, 0, Number.MAX_SAFE_INTEGER),
    recent: integer(params, 'recent', 0, 0, MAX_STATUS_RECENT),
  };
}

function integer(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = params.get(name);
  if (text === null) return fallback;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`${name} must be an integer from ${min} to ${max}, got "${text}"`);
  return value;
}
