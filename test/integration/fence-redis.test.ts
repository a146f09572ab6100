import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { fenceSuite } from './fence-suite.js';

let redis: RedisServer | undefined;
fenceSuite({
  name: 'redis',
  setup: async () => {
    redis = await startRedis();
  },
  teardown: async () => {
    await redis?.stop();
  },
  servers: () => [{ host: redis!.host, port: redis!.port }],
  backendYaml: (_dir, endpoints) => `  type: redis\n  url: redis://${endpoints[0]}`,
});
