import { startRedisSentinel, type RedisSentinelSet } from '../helpers/redis-sentinel.js';
import { backendConformance } from './backend-conformance.js';

let set: RedisSentinelSet | undefined;

function running(): RedisSentinelSet {
  if (!set) throw new Error('the sentinel set is not started');
  return set;
}

// Through Sentinel, every write confirmed by the replica (WAIT 1). No freezeServer: a primary
// frozen past down-after-milliseconds would be failed over, which is redis-sentinel.test.ts's job.
// TTL 4 s: every write is a script, a marker and a WAIT for the replica's ack within one call
// deadline (a fraction of the margin); at the suite's 2 s a loaded CI machine missed it (an
// enqueue failed as ambiguous, so a seat waiter never queued).
backendConformance({
  name: 'redis-sentinel',
  async setup() {
    set = await startRedisSentinel();
  },
  async teardown() {
    await set?.stop();
  },
  config: () => running().config(1),
  ttlMs: 4000,
});
