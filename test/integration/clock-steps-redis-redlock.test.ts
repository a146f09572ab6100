import type { RedisServer } from '../helpers/redis-server.js';
import { redlockYaml } from '../helpers/redis-modes-yaml.js';
import { startRedlockPrimaries } from '../helpers/redlock-primaries.js';
import { clockStepSuite } from './clock-steps-suite.js';

let servers: RedisServer[] = [];
clockStepSuite({
  name: 'redis-redlock',
  setup: async () => {
    servers = await startRedlockPrimaries(3, 3000);
  },
  teardown: async () => {
    await Promise.all(servers.map((s) => s.stop()));
  },
  backendYaml: () => redlockYaml(servers.map((s) => s.url)),
});
