import type { Command } from 'commander';
import { nextSlots } from '../scheduler/scheduler.js';
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
    });
}
