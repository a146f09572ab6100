import type { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { resignRequestKey } from '../requests.js';
import { loadConfigForCli, withBackend } from './common.js';
import { askLeader } from './request-reply.js';
import { abortableDelay } from '../abort.js';

/**
 * `lockd resign`: the leader steps down at once (its running jobs keep their locks and finish) and
 * the next candidate takes over. Prints who leads afterwards. Exit 1 when there is no leader.
 */
export function registerResign(program: Command): void {
  program
    .command('resign')
    .description('make the current leader hand over leadership at once (for maintenance)')
    .option('-c, --config <file>', 'config file (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .option('--timeout <duration>', 'how long to wait for the handover', '10s')
    .action(async (opts: { config?: string; timeout: string }) => {
      const config = await loadConfigForCli(opts.config);
      const timeoutMs = parseDuration(opts.timeout);
      const message = await withBackend(config, async (backend) => {
        const before = (await backend.observe()).leader;
        const started = performance.now();
        await askLeader(backend, resignRequestKey, timeoutMs);
        const never = new AbortController().signal;
        while (performance.now() - started < timeoutMs) {
          const now = (await backend.observe()).leader;
          if (now !== null && now.token !== before?.token) {
            return `leadership moved from ${before?.node ?? '-'} to ${now.node} (token ${now.token}) in ${Math.round(performance.now() - started)} ms`;
          }
          await abortableDelay(20, never);
        }
        return `${before?.node ?? 'the leader'} resigned; no new leader within ${opts.timeout}`;
      });
      process.stdout.write(`${message}\n`);
    });
}
