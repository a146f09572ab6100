/**
 * A separate OS process for the embedded backend's cross-process tests. Run as
 * `node --import tsx test/integration/embedded-child.ts '<json of ChildArgs>'`; prints JSON lines.
 * - `open`: opens the database, closes it, prints `opened` or `error` (name, message), exits 0.
 * - `campaign`: prints `campaigning`, then `leader` (token, monotonic ms) once elected; on SIGTERM
 *   closes the backend (giving leadership up) and exits 0.
 */
import { pino } from 'pino';
import { createEmbeddedBackend } from '../../src/election/embedded/embedded-backend.js';
import { monotonicMs } from '../../src/clock.js';

/** What the child does (passed as JSON in argv[2]). */
export type ChildArgs =
  | { mode: 'open'; path: string }
  | { mode: 'campaign'; path: string; cluster: string; ttlMs: number; node: string };

/** What the child reports, one JSON line each. */
export type ChildEvent =
  | { event: 'opened' }
  | { event: 'error'; name: string; message: string }
  | { event: 'campaigning' }
  | { event: 'leader'; token: string; atMs: number };

function send(event: ChildEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const args = JSON.parse(process.argv[2] ?? '') as ChildArgs;
const logger = pino({ level: 'silent' });
if (args.mode === 'open') {
  try {
    const backend = await createEmbeddedBackend({ type: 'embedded', path: args.path }, { cluster: 'child', ttlMs: 1000, logger });
    await backend.close();
    send({ event: 'opened' });
  } catch (err) {
    send({ event: 'error', name: (err as Error).name, message: (err as Error).message });
  }
} else {
  const backend = await createEmbeddedBackend({ type: 'embedded', path: args.path }, { cluster: args.cluster, ttlMs: args.ttlMs, logger });
  process.once('SIGTERM', () => {
    void backend.close().then(() => process.exit(0));
  });
  send({ event: 'campaigning' });
  const lease = await backend.campaign({ node: args.node, host: 'child', pid: process.pid, since: new Date().toISOString() });
  send({ event: 'leader', token: lease.token.toString(), atMs: monotonicMs() });
}
