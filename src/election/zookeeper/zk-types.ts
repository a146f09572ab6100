import type { Stat } from 'node-zookeeper-client';

/** The parts of a node's Stat lockd uses; zxids and session ids as `bigint`, never JS numbers. */
export interface ZkStat {
  czxid: bigint;
  ephemeralOwner: bigint;
  version: number;
  numChildren: number;
  /** Creation time, epoch ms (server wall clock). */
  ctimeMs: number;
}

/** Converts the library's Stat (64-bit fields as 8-byte big-endian buffers). */
export function toZkStat(stat: Stat): ZkStat {
  return {
    czxid: stat.czxid.readBigUInt64BE(0),
    ephemeralOwner: stat.ephemeralOwner.readBigUInt64BE(0),
    version: stat.version,
    numChildren: stat.numChildren,
    ctimeMs: Number(stat.ctime.readBigInt64BE(0)),
  };
}

/** Connection events, as the client library reports them. */
export type ZkConnectionEvent = 'connected' | 'disconnected' | 'expired' | 'auth-failed';

/** One operation of a `multi` transaction. */
export type ZkOp =
  | { kind: 'check'; path: string }
  | { kind: 'create'; path: string; data: Buffer }
  /** `data: null` clears the value; `version` (default any) makes the set conditional. */
  | { kind: 'set'; path: string; data: Buffer | null; version?: number };

/** Outcome of a `multi`: committed, or the index and error code of the op that failed it. */
export type ZkMultiResult = { ok: true } | { ok: false; index: number; code: number };

/** ZooKeeper error codes lockd branches on. */
export const ZkCode = { NO_NODE: -101, BAD_VERSION: -103, NODE_EXISTS: -110, NOT_EMPTY: -111 } as const;
