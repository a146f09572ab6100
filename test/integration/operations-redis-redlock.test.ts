import { freePort } from '../helpers/ports.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { redlockYaml } from '../helpers/redis-modes-yaml.js';
import { startRedlockPrimaries } from '../helpers/redlock-primaries.js';
import { operationsSuite } from './operations-suite.js';

let servers: RedisServer[] = [];
let closedPorts: number[] = [];
operationsSuite({
  name: 'redis-redlock',
  setup: async () => {
    servers = await startRedlockPrimaries(3, 3000);
    closedPorts = [await freePort(), await freePort(), await freePort()];
  },
  teardown: async () => {
    await Promise.all(servers.map((s) => s.stop()));
  },
  backendYaml: () => redlockYaml(servers.map((s) => s.url)),
  unreachableYaml: () => redlockYaml(closedPorts.map((p) => `redis://127.0.0.1:${p}`)),
});
