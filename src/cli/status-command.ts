import type { Command } from 'commander';
import { collectStatus } from '../observe/status-snapshot.js';
import { CliExit, ExitCode, loadConfigForCli, openBackendForCli, asCliExit } from './common.js';
import { jobGlob } from './job-glob.js';
import { renderStatus } from './render-status.js';
import { abortableDelay } from '../abort.js';

/**
 * `lockd status [-c FILE] [--json] [--all] [--job NAME|GLOB] [--watch]`: who leads, who waits, a
 * summary of the jobs, and the jobs that need attention (every job with `--all`; the matching ones
 * with `--job`), read from the backend directly. `--json` prints every selected job. A `--job`
 * that matches no configured job: exit 2. Unreachable backend: one-line message, exit 1.
 */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the leader, the candidates, a summary of the jobs, and the jobs that need attention')
    .option('-c, --config <file>', 'config file (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .option('--json', 'print one JSON object with every selected job (for machines)')
    .option('--all', 'list every job, not only those failing, missed or running')
    .option('--job <glob>', 'only the jobs matching NAME or GLOB (* and ?), all of them listed')
    .option('--watch', 'redraw when something changes (every second)')
    .action(async (opts: { config?: string; json?: boolean; all?: boolean; job?: string; watch?: boolean }) => {
      const config = await loadConfigForCli(opts.config);
      const matches = opts.job === undefined ? undefined : jobGlob(opts.job);
      const jobs = matches === undefined ? config.jobs : config.jobs.filter((job) => matches(job.name));
      if (jobs.length === 0 && matches !== undefined) throw new CliExit(ExitCode.usage, `no job in ${config.file} matches "${opts.job}"`);
      const backend = await openBackendForCli(config);
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      try {
        let previous = '';
        do {
          const now = Date.now();
          const snapshot = await collectStatus(backend, config, now, { jobs });
          const text =
            opts.json === true
              ? `${JSON.stringify(snapshot, null, 2)}\n`
              : renderStatus(snapshot, now, process.stdout.isTTY === true, { all: opts.all === true || opts.job !== undefined });
          if (opts.watch !== true) process.stdout.write(text);
          else if (text !== previous) process.stdout.write(`${process.stdout.isTTY === true ? '\u001b[2J\u001b[H' : ''}${text}`);
          previous = text;
          if (opts.watch === true) await abortableDelay(1000, stop.signal);
        } while (opts.watch === true && !stop.signal.aborted);
      } catch (err) {
        throw asCliExit(err, `cannot read status from the ${config.backend.type} backend`);
      } finally {
        await backend.close().catch(() => undefined);
      }
    });
}
