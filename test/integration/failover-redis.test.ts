import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { failoverSuite } from './failover-suite.js';

let redis: RedisServer | undefined;
failoverSuite({
  name: 'redis',
  setup: async () => {
    redis = await startRedis();
  },
  teardown: async () => {
    await redis?.stop();
  },
  backendYaml: () => `  type: redis\n  url: ${redis!.url}`,
});
