import { randomBytes } from 'node:crypto';

/**
 * Values of a Redlock backend carry a version, so that a read of a majority can tell the newest:
 * `\u0001<version>\u0001<value>` on each primary, version = `<guard token, 20 digits>.<µs, 17
 * digits>.<writer id>`, compared as strings. A guarded write's version starts with its first
 * guard's token (the leader's, for every write of the scheduler): a later leader's write is newer
 * than any write of an earlier one, whatever the clocks say; writes under one token come from one
 * process, ordered by its own strictly increasing clock. Unguarded writes (`put`: requests to the
 * leader) have token 0 and are ordered by the writers' clocks only.
 */
const MARK = '\u0001';
const writer = randomBytes(4).toString('hex');
let lastMicros = 0;

/** A new version under `token` (0 for an unguarded write). */
export function newVersion(token: bigint): string {
  lastMicros = Math.max(lastMicros + 1, Date.now() * 1000);
  return `${token.toString().padStart(20, '0')}.${String(lastMicros).padStart(17, '0')}.${writer}`;
}

/** `value` as stored, with its version. */
export function wrap(version: string, value: string): string {
  return `${MARK}${version}${MARK}${value}`;
}

/** The version and value of a stored string; a value without a version (not written by Redlock mode) is the oldest. */
export function unwrap(stored: string): { version: string; value: string } {
  if (!stored.startsWith(MARK)) return { version: '', value: stored };
  const end = stored.indexOf(MARK, 1);
  if (end === -1) return { version: '', value: stored };
  return { version: stored.slice(1, end), value: stored.slice(end + 1) };
}

/**
 * The stored string (version and value) a majority holds, from the answers of some primaries
 * (`undefined`: the key's absence): the newest version seen on at least `minSightings` answers (see redlock-quorum.ts),
 * so a write or delete that reached only a minority is not taken for the key's value when every
 * primary answers. With only a bare majority answering, every sighting counts. When no version
 * is seen often enough (failed writes overwrote a complete one on different primaries), the newest
 * seen: a value, if possibly a stale or unconfirmed one, rather than a key that seems absent.
 */
export function newestHeld(stored: readonly (string | undefined)[], minSightings: number): string | undefined {
  const counts = new Map<string, { value: string; n: number }>();
  for (const s of stored) {
    if (s === undefined) continue;
    const { version } = unwrap(s);
    const entry = counts.get(version) ?? { value: s, n: 0 };
    entry.n++;
    counts.set(version, entry);
  }
  const newest = (least: number): string | undefined => {
    let best: { version: string; value: string } | undefined;
    for (const [version, { value, n }] of counts) {
      if (n >= least && (best === undefined || version > best.version)) best = { version, value };
    }
    return best?.value;
  };
  const sightings = [...counts.values()].reduce((sum, c) => sum + c.n, 0);
  // Present on too few answers to be held by a majority: a write or delete that reached a minority.
  if (sightings < minSightings) return undefined;
  return newest(minSightings) ?? newest(1);
}
