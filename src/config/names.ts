/** A cluster or job name, as a regex source (also published in the JSON Schema). */
export const SEGMENT_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
const SEGMENT = new RegExp(SEGMENT_PATTERN);

/**
 * Why `name` cannot be a cluster, job or seat set name, or undefined when it can. These names become
 * segments of backend key paths (`lockd/<cluster>/lock/<job>`), so `/`, spaces and a leading
 * `.` or `-` are refused. Never throws.
 */
export function segmentProblem(kind: 'cluster' | 'job' | 'seat set', name: string): string | undefined {
  if (SEGMENT.test(name)) return undefined;
  return `invalid ${kind} name "${name}": use letters, digits, "_", "." and "-", starting with a letter or digit`;
}
