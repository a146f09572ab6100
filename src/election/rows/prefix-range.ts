/**
 * Bounds of the keys starting with `prefix`: [prefix, prefix with its last character incremented).
 * Incrementing is only sound below the surrogate range; above it there is no upper bound and the
 * query's substr() test does the filtering alone.
 */
export function prefixRange(prefix: string): { lower: string; upper: string | null } {
  const last = prefix.charCodeAt(prefix.length - 1);
  if (prefix === '' || last >= 0xd7ff) return { lower: prefix, upper: null };
  return { lower: prefix, upper: prefix.slice(0, -1) + String.fromCharCode(last + 1) };
}
