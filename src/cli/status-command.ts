import type { Command } from 'commander';
import { collectStatus } from '../observe/status-snapshot.js';
import { loadConfigForCli, openBackendForCli, asCliExit } from './common.js';
import { renderStatus } from './render-status.js';
import { abortableDelay } from '../abort.js';

/**
 * `lockd status [-c FILE] [--json] [--watch]`: who leads, who waits, what each job did and does
 * next, read from the backend directly. Unreachable backend: one-line message, exit 1.
 */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the leader, the candidates, and each job\'s last and next run')
    .option('-c, --config <file>', 'config file (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .option('--json', 'print one JSON object (for machines)')
    .option('--watch', 'redraw when something changes (every second)')
    .action(async (opts: { config?: string; json?: boolean; watch?: boolean }) => {
      const config = await loadConfigForCli(opts.config);
      const backend = await openBackendForCli(config);
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      try {
        let previous = '';
        do {
          const now = Date.now();
          const snapshot = await collectStatus(backend, config, now);
          const text = opts.json === true ? `${JSON.stringify(snapshot, null, 2)}\n` : renderStatus(snapshot, now, process.stdout.isTTY === true);
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
