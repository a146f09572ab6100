import type { CandidateInfo } from '../backend.js';
import type { ZkStat } from './zk-types.js';

/** A candidate's node data: its CandidateInfo as JSON (UTF-8). */
export function encodeCandidate(info: CandidateInfo): Buffer {
  return Buffer.from(JSON.stringify(info));
}

/**
 * Reads a queue node's data. lockd's own nodes hold CandidateInfo JSON; anything else is a foreign
 * participant (a Curator LeaderLatch stores its id, an InterProcessMutex the client's IP address):
 * it is shown with `node` = the data as text and no host or pid. `since` defaults to the node's
 * creation time. Never throws.
 */
export function decodeCandidate(data: Buffer | null, stat: ZkStat): CandidateInfo {
  const text = data?.toString('utf8') ?? '';
  const created = new Date(stat.ctimeMs).toISOString();
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { node?: unknown }).node === 'string') {
      const p = parsed as Partial<Record<keyof CandidateInfo, unknown>>;
      return {
        node: p.node as string,
        host: typeof p.host === 'string' ? p.host : '',
        pid: typeof p.pid === 'number' ? p.pid : 0,
        since: typeof p.since === 'string' ? p.since : created,
      };
    }
  } catch {
    // Not JSON: a foreign participant's raw id.
  }
  return { node: text, host: '', pid: 0, since: created };
}
