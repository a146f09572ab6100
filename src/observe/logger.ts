import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';

/**
 * The one root logger of a lockd process. JSON lines on stdout by default (what log shippers
 * want); readable coloured lines when stdout is a terminal. Components take a child:
 * `logger.child({ component: 'scheduler' })`.
 *
 * `LOCKD_LOG_LEVEL` wins over `level`, so an operator can turn on debug without editing the file.
 */
export function createLogger(opts: { level?: string; destination?: DestinationStream; pretty?: boolean } = {}): Logger {
  const level = process.env.LOCKD_LOG_LEVEL ?? opts.level ?? 'info';
  const usePretty = opts.pretty ?? (opts.destination === undefined && process.stdout.isTTY === true);
  const destination =
    opts.destination ??
    (usePretty ? pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) : pino.destination({ sync: true }));
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
