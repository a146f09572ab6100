import type { LockdProcess } from './lockd-process.js';

/** A replica's term of leadership, by the `time` fields of its own log lines (epoch ms). */
export interface Term {
  node: string;
  from: number;
  /** Infinity while it still leads. */
  to: number;
}

const ends = (msg: string): boolean => msg.startsWith('leadership lost') || msg.startsWith('resigned leadership');

/** Every term of every replica, from 'became leader' to its loss or resignation. */
export function leadershipTerms(replicas: LockdProcess[]): Term[] {
  const terms: Term[] = [];
  for (const r of replicas) {
    let open: Term | undefined;
    for (const line of r.logs) {
      if (line.msg === 'became leader') {
        open = { node: r.name, from: Date.parse(line.time), to: Number.POSITIVE_INFINITY };
        terms.push(open);
      } else if (open !== undefined && ends(line.msg)) {
        open.to = Date.parse(line.time);
        open = undefined;
      }
    }
  }
  return terms;
}

/**
 * Pairs of terms of different replicas that overlap in time: two leaders at once. A replica that
 * was SIGKILLed never logs its end; `killedAt` closes its open term at the kill.
 */
export function overlappingTerms(terms: Term[], killedAt: Map<string, number> = new Map()): Array<[Term, Term]> {
  const closed = terms.map((t) => (t.to === Number.POSITIVE_INFINITY && killedAt.has(t.node) ? { ...t, to: killedAt.get(t.node)! } : t));
  const overlaps: Array<[Term, Term]> = [];
  for (let i = 0; i < closed.length; i++) {
    for (let j = i + 1; j < closed.length; j++) {
      const a = closed[i]!;
      const b = closed[j]!;
      if (a.node !== b.node && a.from < b.to && b.from < a.to) overlaps.push([a, b]);
    }
  }
  return overlaps;
}
