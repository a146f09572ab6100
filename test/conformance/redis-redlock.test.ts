import type { RedisServer } from '../helpers/redis-server.js';
import { startRedlockPrimaries } from '../helpers/redlock-primaries.js';
import { backendConformance } from './backend-conformance.js';

/** Three independent primaries: Redlock mode counts every operation on a majority of them. */
let servers: RedisServer[] = [];

backendConformance({
  name: 'redis-redlock',
  async setup() {
    servers = await startRedlockPrimaries(3, 3000);
  },
  async teardown() {
    await Promise.all(servers.map((s) => s.stop()));
  },
  config: () => {
    if (servers.length === 0) throw new Error('redis is not started');
    return { type: 'redis', redlock: servers.map((s) => s.url) };
  },
  // Each backend opens 15 connections (5 per primary) and every insert takes two round trips: on
  // a loaded 2-core machine a 1 s statement deadline (TTL 2 s) left no room for 8 backends at once.
  ttlMs: 3000,
  async freezeServer() {
    for (const s of servers) s.freeze();
    return async () => {
      for (const s of servers) s.thaw();
    };
  },
});
