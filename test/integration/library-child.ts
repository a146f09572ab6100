/**
 * A service using lockd as a library, in its own OS process, for test/integration/library.test.ts.
 * Run as `node --import tsx test/integration/library-child.ts '<json of LibraryChildArgs>'`;
 * prints JSON lines.
 * - `locks`: `rounds` times takes `names` with `withLocks` (in the order given) and appends
 *   `<names> <tokens>` to `file` inside; prints `done`.
 * - `hold`: takes lock `names[0]`, prints `held`, then every 20 ms, while `isValid()`, appends its
 *   token to `file`; once invalid prints `lost` with whether `signal` had aborted by then.
 */
import { appendFileSync } from 'node:fs';
import { connect } from '../../src/index.js';

export interface LibraryChildArgs {
  mode: 'locks' | 'hold';
  path: string;
  cluster: string;
  names: string[];
  file: string;
  rounds?: number;
  ttl?: string;
}

const args = JSON.parse(process.argv[2] ?? '') as LibraryChildArgs;
const send = (event: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(event)}\n`);
const lockd = await connect({ cluster: args.cluster, node: `child-${process.pid}`, backend: { type: 'embedded', path: args.path }, ttl: args.ttl ?? '2s' });
if (args.mode === 'locks') {
  for (let i = 0; i < (args.rounds ?? 1); i++) {
    await lockd.withLocks(args.names, { wait: '20s' }, ({ tokens }) => {
      appendFileSync(args.file, `${[...tokens.keys()].join(',')} ${[...tokens.values()].join(',')}\n`);
    });
  }
  send({ event: 'done' });
} else {
  const lock = await lockd.acquire(args.names[0]!);
  send({ event: 'held', token: String(lock.token) });
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (lock.isValid()) {
        appendFileSync(args.file, `${lock.token}\n`);
        return;
      }
      clearInterval(timer);
      send({ event: 'lost', signalAborted: lock.signal.aborted });
      resolve();
    }, 20);
  });
}
await lockd.close();
