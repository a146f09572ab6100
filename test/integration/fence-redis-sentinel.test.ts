import { startRedisSentinel, type RedisSentinelSet } from '../helpers/redis-sentinel.js';
import { sentinelYaml } from '../helpers/redis-modes-yaml.js';
import { fenceSuite } from './fence-suite.js';

/**
 * No `servers`, so no network faults here: Sentinel hands lockd the primary's own address, which
 * a per-replica proxy cannot stand in for. The data path after discovery is the single-primary
 * client, whose blackhole and reset run in fence-redis.test.ts.
 */
let set: RedisSentinelSet | undefined;
fenceSuite({
  name: 'redis-sentinel',
  setup: async () => {
    set = await startRedisSentinel();
  },
  teardown: async () => {
    await set?.stop();
  },
  backendYaml: () => sentinelYaml(set!.master, set!.nodes),
});
