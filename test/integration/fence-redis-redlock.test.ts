import type { RedisServer } from '../helpers/redis-server.js';
import { redlockYaml } from '../helpers/redis-modes-yaml.js';
import { startRedlockPrimaries } from '../helpers/redlock-primaries.js';
import { fenceSuite } from './fence-suite.js';

/** Each replica reaches each of the three primaries through its own fault proxy. */
let servers: RedisServer[] = [];
fenceSuite({
  name: 'redis-redlock',
  setup: async () => {
    servers = await startRedlockPrimaries(3, 3000);
  },
  teardown: async () => {
    await Promise.all(servers.map((s) => s.stop()));
  },
  servers: () => servers.map((s) => ({ host: s.host, port: s.port })),
  backendYaml: (_dir, endpoints) => redlockYaml(endpoints.map((e) => `redis://${e}`)),
});
