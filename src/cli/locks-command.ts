import type { Command } from 'commander';
import type { LockView } from '../election/backend.js';
import { formatDuration } from '../config/duration.js';
import { loadConfigForCli, withBackend } from './common.js';
import { table } from './format.js';

/**
 * `lockd locks [--json]`: every held lock of the cluster — job locks, `lockd lock`, locks taken
 * through the library — and every holder of a seat set (one line each, with the set's seat count), with its holder (node, host, pid), fencing token, how long it has been
 * held and how many wait behind it: the question every lock user asks, "who holds it?". The
 * election is `lockd status`'s business. Exit 1 when the backend cannot be reached.
 */
export function registerLocks(program: Command): void {
  program
    .command('locks')
    .description('list held locks: holder, fencing token, age, waiters')
    .option('-c, --config <file>', 'config file (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .option('--json', 'print JSON (tokens as strings)')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const config = await loadConfigForCli(opts.config);
      const locks = await withBackend(config, (backend) => backend.locks());
      const now = Date.now();
      process.stdout.write(opts.json ? `${JSON.stringify(locks.map((l) => asJson(l, now)), null, 2)}\n` : renderLocks(locks, now));
    });
}

/** One lock for `--json`. */
export function asJson(lock: LockView, now: number): Record<string, unknown> {
  const ageMs = heldForMs(lock, now);
  return {
    name: lock.name,
    token: lock.token.toString(),
    holder: lock.holder,
    ...(lock.seats === undefined ? {} : { seats: lock.seats }),
    ...(ageMs === undefined ? {} : { heldForMs: ageMs }),
    waiting: lock.waiting,
  };
}

/** A table, one lock per line; "no locks held" when there are none. */
export function renderLocks(locks: readonly LockView[], now: number): string {
  if (locks.length === 0) return 'no locks held\n';
  const rows = [
    ['LOCK', 'TOKEN', 'HOLDER', 'HOST', 'PID', 'HELD FOR', 'WAITING'],
    ...locks.map((l) => {
      const ageMs = heldForMs(l, now);
      return [
        l.seats === undefined ? l.name : `${l.name} (seat of ${l.seats})`,
        l.token.toString(),
        l.holder?.node ?? '(foreign)',
        l.holder?.host || '-',
        l.holder?.pid ? String(l.holder.pid) : '-',
        ageMs === undefined ? '-' : formatDuration(Math.round(ageMs / 1000) * 1000),
        String(l.waiting),
      ];
    }),
  ];
  return `${table(rows)}\n`;
}

/** How long the holder has held it, from the `since` it wrote (its wall clock); undefined when unknown. */
function heldForMs(lock: LockView, now: number): number | undefined {
  const since = lock.holder?.since ? Date.parse(lock.holder.since) : NaN;
  return Number.isNaN(since) ? undefined : Math.max(0, now - since);
}
