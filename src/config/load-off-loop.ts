import { Worker } from 'node:worker_threads';
import { ConfigError, LockdError, type ConfigProblem } from '../errors.js';
import type { LockdConfig } from './types.js';

type Answer = { config: LockdConfig } | { problems: ConfigProblem[] } | { error: string };

/**
 * `loadConfig` on a worker thread, for a reload while lockd leads. Parsing a file of 10,000 jobs
 * takes 0.5–1 s of CPU; on the main event loop that would hold up keep-alives for longer than the
 * self-fencing margin, and a SIGHUP would cost the lease. Here the main thread only receives the
 * result (a structured clone of plain data). Resolves with the config; rejects with `ConfigError`
 * (every problem, as `loadConfig` reports them) or a `LockdError` with code `CONFIG_LOAD_FAILED`
 * when the worker itself failed.
 */
export function loadConfigOffLoop(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LockdConfig> {
  const worker = startWorker({ file, env: { ...env } });
  return new Promise<LockdConfig>((resolve, reject) => {
    const failed = (why: string): void => reject(new LockdError('CONFIG_LOAD_FAILED', `loading ${file} failed: ${why}`));
    worker.once('message', (answer: Answer) => {
      if ('config' in answer) resolve(answer.config);
      else if ('problems' in answer) reject(new ConfigError(answer.problems));
      else failed(answer.error);
    });
    worker.once('error', (err) => failed(err.message));
    worker.once('exit', (code) => failed(`the loader thread exited (code ${code}) without an answer`));
  });
}

/**
 * The worker on the file next to this one: `load-worker.js` in `dist/`; under tsx (tests), whose
 * loader a worker thread of Node 20 does not inherit, a bootstrap that registers it first.
 */
function startWorker(workerData: { file: string; env: NodeJS.ProcessEnv }): Worker {
  const entry = new URL(import.meta.url.replace(/load-off-loop\.(ts|js)$/, 'load-worker.$1'));
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
