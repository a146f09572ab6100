/** Words of PromQL that are not metric names where an identifier may stand. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression (or a Grafana `label_values(metric, label)` query) reads:
 * every identifier that is not a function call, keyword, label name in a matcher or grouping,
 * string, number, duration or Grafana `$variable`. A lexer, not a parser: it assumes the
 * expression is valid PromQL (promtool or Grafana checks that), so on garbage it returns garbage.
 */
export function promqlMetricNames(expr: string): string[] {
  const labelValues = /^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,/.exec(expr);
  if (labelValues !== null) return [labelValues[1]!];
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/(?<![a-zA-Z_:])\d+(?:\.\d+)?(?:e[+-]?\d+|ms|[smhdwy])*/gi, ' ');
  const names: string[] = [];
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const isCall = /^\s*\(/.test(bare.slice(m.index + m[0].length));
    if (!isCall && !KEYWORDS.has(m[0].toLowerCase())) names.push(m[0]);
  }
  return names;
}
