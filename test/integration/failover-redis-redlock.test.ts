import type { RedisServer } from '../helpers/redis-server.js';
import { redlockYaml } from '../helpers/redis-modes-yaml.js';
import { startRedlockPrimaries } from '../helpers/redlock-primaries.js';
import { failoverSuite } from './failover-suite.js';

let servers: RedisServer[] = [];
failoverSuite({
  name: 'redis-redlock',
  setup: async () => {
    servers = await startRedlockPrimaries(3, 3000);
  },
  teardown: async () => {
    await Promise.all(servers.map((s) => s.stop()));
  },
  backendYaml: () => redlockYaml(servers.map((s) => s.url)),
});
