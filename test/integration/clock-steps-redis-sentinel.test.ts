import { startRedisSentinel, type RedisSentinelSet } from '../helpers/redis-sentinel.js';
import { sentinelYaml } from '../helpers/redis-modes-yaml.js';
import { clockStepSuite } from './clock-steps-suite.js';

let set: RedisSentinelSet | undefined;
clockStepSuite({
  name: 'redis-sentinel',
  setup: async () => {
    set = await startRedisSentinel();
  },
  teardown: async () => {
    await set?.stop();
  },
  backendYaml: () => sentinelYaml(set!.master, set!.nodes),
});
