import { startRedisSentinel, type RedisSentinelSet } from '../helpers/redis-sentinel.js';
import { backendConformance } from './backend-conformance.js';

let set: RedisSentinelSet | undefined;

function running(): RedisSentinelSet {
  if (!set) throw new Error('the sentinel set is not started');
  return set;
}

// Through Sentinel, every write confirmed by the replica (WAIT 1). No freezeServer: a primary
// frozen past down-after-milliseconds would be failed over, which is redis-sentinel.test.ts's job.
backendConformance({
  name: 'redis-sentinel',
  async setup() {
    set = await startRedisSentinel();
  },
  async teardown() {
    await set?.stop();
  },
  config: () => running().config(1),
});
