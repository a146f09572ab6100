import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { triggerRequestKey } from '../requests.js';
import { CliExit, ExitCode, loadConfigForCli, withBackend } from './common.js';
import { askLeader } from './request-reply.js';

/**
 * `lockd trigger JOB`: asks the leader to run JOB now, as a manual run with its own slot record
 * and fencing token. Exit 0 when it started, 1 when it was not run, may have run (its leader lost
 * leadership before recording it; it is not run again), or no leader answered.
 */
export function registerTrigger(program: Command): void {
  program
    .command('trigger')
    .description('ask the leader to run a job now (recorded as a manual run)')
    .argument('<job>', 'job name')
    .option('-c, --config <file>', 'config file (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .option('--timeout <duration>', 'how long to wait for the leader to answer', '30s')
    .action(async (job: string, opts: { config?: string; timeout: string }) => {
      const config = await loadConfigForCli(opts.config);
      if (!config.jobs.some((j) => j.name === job)) throw new CliExit(ExitCode.usage, `unknown job "${job}" in ${config.file}`);
      const answer = await withBackend(config, (backend) => askLeader(backend, (id) => triggerRequestKey(job, id), parseDuration(opts.timeout)));
      if (answer.uncertain) throw new CliExit(ExitCode.failure, `${job}: ${answer.message ?? 'may have run (see lockd history)'}`);
      if (!answer.ok) throw new CliExit(ExitCode.failure, `${job} was not run by ${answer.node}: ${answer.message ?? 'unknown reason'}`);
      process.stdout.write(`${job} started on ${answer.node} as run ${answer.runId ?? '?'}\n`);
    });
}
