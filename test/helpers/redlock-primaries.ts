import { pino } from 'pino';
import { createBackend } from '../../src/election/create-backend.js';
import { LockdError } from '../../src/errors.js';
import { startRedis, type RedisServer } from './redis-server.js';
import { waitFor } from './wait-for.js';

/**
 * Starts `count` independent redis-servers (test/helpers/redis-server.ts) for Redlock mode and
 * waits until they vote: a primary lockd has never seen carries a fresh boot marker, and a fresh
 * marker votes only one lease TTL after it was made (the "delayed restart" rule), as in a new
 * deployment. Waits for the event (a write that a majority confirms), up to 30 s.
 */
export async function startRedlockPrimaries(count: number, ttlMs: number): Promise<RedisServer[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => startRedis()));
  await waitForVotes(servers, ttlMs);
  return servers;
}

/** Waits until a majority of `servers` confirms a write (see `startRedlockPrimaries`). */
export async function waitForVotes(servers: readonly RedisServer[], ttlMs: number): Promise<void> {
  const backend = await createBackend({ type: 'redis', redlock: servers.map((s) => s.url) }, { cluster: 'redlock-warmup', ttlMs, logger: pino({ level: 'silent' }) });
  try {
    await waitFor(
      'a majority of the redlock primaries to vote',
      () =>
        backend.put('warmup', 'ok').then(
          () => true,
          (err: unknown) => {
            if (err instanceof LockdError && err.retryable) return false;
            throw err;
          },
        ),
      30_000,
      100,
    );
  } finally {
    await backend.close();
  }
}
