import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { clockStepSuite } from './clock-steps-suite.js';

let redis: RedisServer | undefined;
clockStepSuite({
  name: 'redis',
  setup: async () => {
    redis = await startRedis();
  },
  teardown: async () => {
    await redis?.stop();
  },
  backendYaml: () => `  type: redis\n  url: ${redis!.url}`,
});
