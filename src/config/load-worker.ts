import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import { loadConfig } from './load.js';

/**
 * The worker thread of `loadConfigOffLoop`: loads `workerData.file` with `workerData.env` and posts
 * one message, `{ config }`, `{ problems }` (a `ConfigError`) or `{ error }` (anything else, as text).
 */
const { file, env } = workerData as { file: string; env: NodeJS.ProcessEnv };
try {
  parentPort?.postMessage({ config: await loadConfig(file, env) });
} catch (err) {
  parentPort?.postMessage(err instanceof ConfigError ? { problems: err.problems } : { error: err instanceof Error ? err.message : String(err) });
}
