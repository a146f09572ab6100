import type { Command } from 'commander';
import { Daemon } from '../daemon.js';
import { createLogger, flushLogs } from '../observe/logger.js';
import { asCliExit, loadConfigForCli } from './common.js';

/**
 * `lockd run [-c FILE]`: the daemon. SIGTERM/SIGINT shut down gracefully (exit 0); a second one
 * kills running jobs at once. SIGHUP reloads the config.
 */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the daemon: campaign for leadership and, while leading, run the jobs')
    .option('-c, --config <file>', 'config file (default: $LOCKD_CONFIG or ./lockd.yaml)')
    .action(async (opts: { config?: string }) => {
      const config = await loadConfigForCli(opts.config);
      const logger = createLogger({ level: config.log.level });
      let daemon: Daemon;
      try {
        daemon = await Daemon.start(config, logger);
      } catch (err) {
        throw asCliExit(err, 'lockd could not start');
      }
      let signals = 0;
      const stop = (signal: NodeJS.Signals): void => {
        signals += 1;
        logger.info({ signal }, signals === 1 ? 'signal received: graceful shutdown' : 'second signal: killing running jobs');
        if (signals === 1) void daemon.shutdown();
        else daemon.killNow();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      process.on('SIGHUP', () => void daemon.reload());
      await daemon.done();
      // Bounded (EXIT_FLUSH_MS): a stalled stdout reader costs the last lines, not a hung exit.
      await flushLogs();
      process.exit(0);
    });
}
