import { freePort } from '../helpers/ports.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { operationsSuite } from './operations-suite.js';

let redis: RedisServer | undefined;
let closedPort = 0;
operationsSuite({
  name: 'redis',
  setup: async () => {
    redis = await startRedis();
    closedPort = await freePort();
  },
  teardown: async () => {
    await redis?.stop();
  },
  backendYaml: () => `  type: redis\n  url: ${redis!.url}`,
  unreachableYaml: () => `  type: redis\n  url: redis://127.0.0.1:${closedPort}`,
});
