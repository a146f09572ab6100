import type { Command } from 'commander';
import { nextSlots } from '../scheduler/scheduler.js';
import { formatDuration } from '../config/duration.js';
import { storageWarning } from '../config/storage-budget.js';
import type { LockdConfig } from '../config/types.js';
import { fencingWindow } from '../election/fencing-window.js';
import { loadConfigForCli } from './common.js';
import { formatInZone } from './format.js';

/** `lockd validate [-c FILE]`: every problem as FILE:LINE:COL (exit 2), else each job's next 3 slots. */
export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a config file; print each job with its next 3 slots')
    .option('-c, --config <file>', 'config file (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .action(async (opts: { config?: string }) => {
      const config = await loadConfigForCli(opts.config);
      const lines = [`${config.file}: ok (cluster ${config.cluster}, backend ${config.backend.type}, ${config.jobs.length} job(s))`];
      const now = Date.now();
      for (const job of config.jobs) {
        lines.push(`  ${job.name}  "${job.schedule}" (${job.timezone})`);
        for (const slot of nextSlots(job, now, 3)) lines.push(`    ${formatInZone(slot, job.timezone)}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
      for (const warning of [killGraceWarning(config), storageWarning(config)]) {
        if (warning !== undefined) process.stderr.write(`${config.file}: warning: ${warning}\n`);
      }
    });
}

/**
 * A job's `kill_grace` applies in full to timeouts and shutdown; on lease loss SIGKILL must land
 * before the session's kill deadline, so the grace is capped by the backend's fencing window
 * (src/election/fencing-window.ts). Says which jobs are affected, and the effective value.
 */
export function killGraceWarning(config: LockdConfig): string | undefined {
  const { lossGraceMs } = fencingWindow(config.backend.type, config.leader.ttlMs);
  const over = config.jobs.filter((job) => job.killGraceMs > lossGraceMs);
  if (over.length === 0) return undefined;
  const names = over.slice(0, 5).map((job) => job.name).join(', ') + (over.length > 5 ? `, … (${over.length} jobs)` : '');
  return (
    `kill_grace of ${names} is longer than a lease loss allows (${config.backend.type}, leader.ttl ${formatDuration(config.leader.ttlMs)}): ` +
    `on lease loss SIGKILL follows SIGTERM after ${formatDuration(lossGraceMs)}; timeouts and shutdown keep the full kill_grace`
  );
}
