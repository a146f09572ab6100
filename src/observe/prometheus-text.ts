/**
 * Pieces of the Prometheus text exposition format (version 0.0.4) for the metric families lockd
 * renders itself (see `JobMetrics`); prom-client renders the rest. Pure; never throws.
 */

const NEEDS_ESCAPE = /[\\"\n]/;

/** A label value between its double quotes: `\`, `"` and newline escaped. */
export function labelValue(value: string): string {
  return NEEDS_ESCAPE.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}

/** A sample value: Go float syntax, with `+Inf`, `-Inf` and `NaN` spelled as Prometheus reads them. */
export function sampleValue(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? '+Inf' : '-Inf';
}

/** The `# HELP` and `# TYPE` lines that open a family (HELP text: `\` and newline escaped). */
export function familyHeader(name: string, type: 'counter' | 'gauge', help: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
}
