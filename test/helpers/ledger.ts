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
