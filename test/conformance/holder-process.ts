/**
 * A lock (or seat) holder in its own process, so a test can SIGSTOP it. Run as
 * `node --import tsx test/conformance/holder-process.ts` with `LOCKD_HOLDER` set to the JSON of
 * `HolderOptions`. Talks JSON lines: commands on stdin, events on stdout (see holder-client.ts).
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import type { Lease } from '../../src/election/backend.js';
import { createBackend } from '../../src/election/create-backend.js';
import type { HolderCommand, HolderEvent, HolderOptions } from './holder-client.js';

const options = JSON.parse(process.env.LOCKD_HOLDER ?? '') as HolderOptions;
const backend = await createBackend(options.config, {
  cluster: options.cluster,
  ttlMs: options.ttlMs,
  logger: pino({ level: 'silent' }),
});
const leases = new Map<string, Lease>();

function send(event: HolderEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function handle(command: HolderCommand): Promise<void> {
  switch (command.cmd) {
    case 'acquire':
    case 'acquireSeat': {
      const lease = command.cmd === 'acquire' ? await backend.acquire(command.name) : await backend.acquireSeat(command.name, command.seats);
      leases.set(command.name, lease);
      lease.signal.addEventListener('abort', () =>
        send({ event: 'aborted', name: command.name, reason: errorName(lease.signal.reason), valid: lease.isValid() }),
      );
      send({ event: 'acquired', name: command.name, token: lease.token.toString() });
      return;
    }
    case 'guardedPut': {
      const lease = leases.get(command.name);
      if (!lease) throw new Error(`no lease ${command.name}`);
      try {
        const written = await backend.guardedPut(lease, command.key, command.value);
        send({ event: 'putResult', ok: true, written });
      } catch (err) {
        send({ event: 'putResult', ok: false, error: errorName(err) });
      }
      return;
    }
    case 'close':
      await backend.close();
      send({ event: 'closed' });
      process.exit(0);
  }
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : String(err);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  handle(JSON.parse(line) as HolderCommand).catch((err: unknown) => send({ event: 'error', error: String(err) }));
});
lines.on('close', () => process.exit(0));
send({ event: 'ready' });
