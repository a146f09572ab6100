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

/** A lockd seat holder's lease node data: its CandidateInfo plus the seat count it asked for. */
export function encodeSeatHolder(info: CandidateInfo, seats: number): Buffer {
  return Buffer.from(JSON.stringify({ ...info, seats }));
}

/**
 * The seat count a lease node's data records, or undefined when it records none (a Curator lease
 * node holds the client's IP address, or nothing). Never throws.
 */
export function decodeSeatCount(data: Buffer | null): number | undefined {
  try {
    const seats = (JSON.parse(data?.toString('utf8') ?? '') as { seats?: unknown } | null)?.seats;
    return typeof seats === 'number' && Number.isInteger(seats) && seats >= 1 ? seats : undefined;
  } catch {
    return undefined;
  }
}
