import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

/** One line a test job appended: `$LOCKD_SCHEDULED_AT $LOCKD_FENCING_TOKEN $LOCKD_NODE`. */
export interface LedgerEntry {
  slot: number;
  token: bigint;
  node: string;
}

/** The shell line a ledger job runs (append is atomic for lines this short). */
export function ledgerJobCommand(file: string): string {
  return `echo "$LOCKD_SCHEDULED_AT $LOCKD_FENCING_TOKEN $LOCKD_NODE" >> '${file}'`;
}

export function readLedger(file: string): LedgerEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [at, token, node] = l.trim().split(/\s+/);
      return { slot: Date.parse(at ?? ''), token: BigInt(token ?? '-1'), node: node ?? '' };
    });
}

/**
 * Polls the ledger (a file has no event for "a line with this property arrived") every 20 ms until
 * `done(entries)` holds; rejects after `timeoutMs` with the ledger in the message.
 */
export async function waitForLedger(file: string, done: (entries: LedgerEntry[]) => boolean, timeoutMs: number): Promise<LedgerEntry[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const entries = readLedger(file);
    if (done(entries)) return entries;
    if (performance.now() > deadline) {
      throw new Error(`ledger condition not met within ${timeoutMs} ms; ledger:\n${entries.map(format).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The promise: no slot twice, and tokens strictly increase in slot order. */
export function assertLedgerInvariants(entries: LedgerEntry[]): void {
  const slots = entries.map((e) => e.slot);
  assert.equal(new Set(slots).size, slots.length, `a slot ran twice:\n${entries.map(format).join('\n')}`);
  const bySlot = [...entries].sort((a, b) => a.slot - b.slot);
  for (let i = 1; i < bySlot.length; i++) {
    const prev = bySlot[i - 1]!;
    const cur = bySlot[i]!;
    assert.ok(cur.token > prev.token, `token did not increase: ${format(prev)} then ${format(cur)}`);
  }
}

function format(e: LedgerEntry): string {
  return `${new Date(e.slot).toISOString()} ${e.token} ${e.node}`;
}

/**
 * One run of a job that ignores SIGTERM, as its ledger shows it: the slot, token and node it
 * started with, when it started and when it last said it was alive (wall clock, ns since epoch).
 */
export interface StubbornRun extends LedgerEntry {
  startNs: bigint;
  lastAliveNs: bigint;
  /** The job's shell: the leader of its process group. */
  pid: number;
}

/**
 * The shell line of a job that traps (ignores) SIGTERM, as a job that flushes and cleans up for
 * long would, and writes an `alive` line with its token every 100 ms; so only SIGKILL ends it. It
 * gives up by itself after `maxSeconds` (default 60), so a test that fails leaves nothing running
 * for long. The line is for a lockd config (`run:`), which expands `$$` to `$`.
 */
export function stubbornJobCommand(file: string, opts: { maxSeconds?: number; noisy?: boolean } = {}): string {
  const now = '$(date +%s%N)';
  const maxSeconds = opts.maxSeconds ?? 60;
  // `noisy`: five 1000-character lines to stdout every 100 ms, which lockd logs line by line.
  const noise = opts.noisy === true ? " printf '%01000d\\n' 0 0 0 0 0;" : '';
  return [
    // `$$$$`: lockd reads `$$` in its config as a literal `$`, so the shell gets `$$`, its own pid.
    `echo "start $LOCKD_SCHEDULED_AT $LOCKD_FENCING_TOKEN $LOCKD_NODE ${now} $$$$" >> '${file}'`,
    "trap '' TERM",
    'i=0',
    `while [ $i -lt ${maxSeconds * 10} ]; do${noise} echo "alive $LOCKD_SCHEDULED_AT $LOCKD_FENCING_TOKEN $LOCKD_NODE ${now}" >> '${file}'; sleep 0.1; i=$((i+1)); done`,
  ].join('; ');
}

/** Every run in a stubborn job's ledger, in order of start. */
export function readStubbornRuns(file: string): StubbornRun[] {
  if (!existsSync(file)) return [];
  const runs = new Map<string, StubbornRun>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [kind, at, token, node, ns, pid] = line.trim().split(/\s+/);
    if ((kind !== 'start' && kind !== 'alive') || ns === undefined || !/^\d+$/.test(ns)) continue;
    const key = `${at} ${token}`;
    const run = runs.get(key);
    if (run === undefined) {
      runs.set(key, { slot: Date.parse(at ?? ''), token: BigInt(token ?? '-1'), node: node ?? '', startNs: BigInt(ns), lastAliveNs: BigInt(ns), pid: Number(pid ?? 0) });
    } else if (BigInt(ns) > run.lastAliveNs) {
      run.lastAliveNs = BigInt(ns);
    }
  }
  return [...runs.values()].sort((a, b) => (a.startNs < b.startNs ? -1 : 1));
}

/**
 * The kill rule of DESIGN §1.4 as the ledger shows it: no process of a run is alive when another
 * run of the job starts (the job does not allow overlap), plus the ledger promise: no slot twice,
 * tokens strictly increasing in slot order.
 */
export function assertRunsNeverOverlap(runs: StubbornRun[]): void {
  assertLedgerInvariants(runs);
  for (let i = 1; i < runs.length; i++) {
    const next = runs[i]!;
    for (const earlier of runs.slice(0, i)) {
      const overlapMs = Number(earlier.lastAliveNs - next.startNs) / 1e6;
      assert.ok(
        overlapMs < 0,
        `run ${earlier.token} on ${earlier.node} was still alive ${overlapMs.toFixed(0)} ms after run ${next.token} started on ${next.node}:\n${runs.map(formatRun).join('\n')}`,
      );
    }
  }
}

function formatRun(r: StubbornRun): string {
  return `${format(r)} start ${(Number(r.startNs / 1000000n) % 100000) / 1000}s last alive ${(Number(r.lastAliveNs / 1000000n) % 100000) / 1000}s`;
}
