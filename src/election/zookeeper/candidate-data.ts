import type { CandidateInfo } from '../backend.js';
import type { ZkStat } from './zk-client.js';

/** A candidate's node data: its CandidateInfo as JSON (UTF-8). */
export function encodeCandidate(info: CandidateInfo): Buffer {
  return Buffer.from(JSON.stringify(info));
}

/**
 * Reads a queue node's data. lockd's own nodes hold CandidateInfo JSON; anything else is a foreign
 * participant (a Curator LeaderLatch stores its id, an InterProcessMutex the client's IP address):
 * it is shown with `node` = the data as text, `since` = the node's creation time, and no host or pid.
 */
export function decodeCandidate(data: Buffer | null, stat: ZkStat): CandidateInfo {
  const text = data?.toString('utf8') ?? '';
  try {
    const parsed: unknown = JSON.parse(text);
    if (isCandidateInfo(parsed)) return { node: parsed.node, host: parsed.host, pid: parsed.pid, since: parsed.since };
  } catch {
    // Not JSON: a foreign participant.
  }
  return { node: text, host: '', pid: 0, since: new Date(stat.ctimeMs).toISOString() };
}

function isCandidateInfo(value: unknown): value is CandidateInfo {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.node === 'string' && typeof v.host === 'string' && typeof v.pid === 'number' && typeof v.since === 'string';
}
