import { freePort } from '../helpers/ports.js';
import { startRedisSentinel, type RedisSentinelSet } from '../helpers/redis-sentinel.js';
import { sentinelYaml } from '../helpers/redis-modes-yaml.js';
import { operationsSuite } from './operations-suite.js';

let set: RedisSentinelSet | undefined;
let closedPort = 0;
operationsSuite({
  name: 'redis-sentinel',
  setup: async () => {
    set = await startRedisSentinel();
    closedPort = await freePort();
  },
  teardown: async () => {
    await set?.stop();
  },
  backendYaml: () => sentinelYaml(set!.master, set!.nodes),
  unreachableYaml: () => sentinelYaml(set!.master, [`127.0.0.1:${closedPort}`]),
});
