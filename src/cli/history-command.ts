import type { Command } from 'commander';
import { runsPrefix, type RunRecord } from '../scheduler/records.js';
import { CliExit, ExitCode, loadConfigForCli, withBackend } from './common.js';
import { formatInZone, table } from './format.js';

/** `lockd history JOB [-n N] [--json]`: the newest run records of a job, newest first. */
export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('show recent runs of a job (outcome, node, token, duration, output tail)')
    .argument('<job>', 'job name')
    .option('-c, --config <file>', 'config file (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .option('-n, --limit <n>', 'number of records', '20')
    .option('--json', 'print JSON (an array of run records)')
    .action(async (jobName: string, opts: { config?: string; limit: string; json?: boolean }) => {
      const config = await loadConfigForCli(opts.config);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CliExit(ExitCode.usage, `-n must be a positive integer, got "${opts.limit}"`);
      const job = config.jobs.find((j) => j.name === jobName);
      const records = await withBackend(config, async (backend) => {
        const kvs = await backend.list(runsPrefix(jobName));
        return kvs
          .map((kv) => JSON.parse(kv.value) as RunRecord)
          .sort((a, b) => b.slot - a.slot)
          .slice(0, limit);
      });
      if (opts.json === true) {
        process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
        return;
      }
      if (records.length === 0) {
        process.stdout.write(`no runs recorded for ${jobName}${job === undefined ? ' (not in this config)' : ''}\n`);
        return;
      }
      const rows = [['SLOT', 'OUTCOME', 'NODE', 'TOKEN', 'ATTEMPT', 'DURATION', 'EXIT']];
      for (const r of records) {
        rows.push([
          formatInZone(r.slot, job?.timezone ?? 'UTC') + (r.manual === true ? ' (manual)' : ''),
          r.reason === undefined ? r.outcome : `${r.outcome} (${r.reason})`,
          r.node,
          (r.token ?? '-') + (r.seatToken === undefined ? '' : ` (seat ${r.seatToken})`),
          String(r.attempt),
          r.durationMs === undefined ? '-' : `${(r.durationMs / 1000).toFixed(2)}s`,
          r.signal ?? (r.exitCode === undefined || r.exitCode === null ? '-' : String(r.exitCode)),
        ]);
      }
      const tails = records
        .filter((r) => r.output !== undefined && r.output.length > 0)
        .slice(0, 3)
        .map((r) => `--- ${r.runId} output (tail) ---\n${(r.output ?? '').trimEnd()}`);
      process.stdout.write(`${table(rows)}\n${tails.length > 0 ? `\n${tails.join('\n')}\n` : ''}`);
    });
}
