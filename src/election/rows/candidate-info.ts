import type { CandidateInfo } from '../backend.js';

/**
 * Reads the info column of an election row. lockd writes it as JSON of `CandidateInfo`; a row
 * that is missing or malformed (another tool wrote it) still shows up, with placeholders, rather
 * than making `observe` fail for everyone. Never throws.
 */
export function parseCandidateInfo(text: string | null): CandidateInfo {
  let raw: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text ?? '{}');
    if (typeof parsed === 'object' && parsed !== null) raw = parsed as Record<string, unknown>;
  } catch {
    // Placeholders below.
  }
  return {
    node: typeof raw.node === 'string' ? raw.node : '(unknown)',
    host: typeof raw.host === 'string' ? raw.host : '',
    pid: typeof raw.pid === 'number' ? raw.pid : 0,
    since: typeof raw.since === 'string' ? raw.since : '',
  };
}
