import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Backend, Lease } from '../../src/election/backend.js';
import { createZooKeeperBackend } from '../../src/election/zookeeper/zookeeper-backend.js';
import { LockdError } from '../../src/errors.js';
import { candidate } from '../conformance/conformance-context.js';
import { waitFor } from '../helpers/wait-for.js';
import { ensembleLeader, memberServing, startZooKeeperEnsemble, type ZkEnsemble, type ZkServer } from '../helpers/zookeeper-server.js';
import { LogSink, Sampler } from './zookeeper-support.js';

const ttlMs = 3000;

describe('zookeeper backend: 3-server ensemble', () => {
  let ensemble: ZkEnsemble;
  const open: Backend[] = [];
  const backend = async (cluster: string, sink = new LogSink()): Promise<Backend> => {
    const b = await createZooKeeperBackend({ type: 'zookeeper', connect: ensemble.connect }, { cluster, ttlMs, logger: sink.logger });
    open.push(b);
    return b;
  };

  before(async () => {
    ensemble = await startZooKeeperEnsemble(3);
  });
  after(() => ensemble.stop());
  afterEach(() => Promise.allSettled(open.splice(0).map((b) => b.close())));

  const pickers: Array<[string, (sessionId: string) => Promise<ZkServer>]> = [
    ['the member the leader is connected to', (sessionId) => memberServing(ensemble, sessionId)],
    ['the ensemble leader', () => ensembleLeader(ensemble)],
  ];
  for (const [what, pick] of pickers) {
    it(`kill -9 of ${what}: the lease survives or is cleanly lost, never two holders`, { timeout: 60_000 }, async (t) => {
      const cluster = `ensemble-${randomBytes(4).toString('hex')}`;
      const sinkA = new LogSink();
      const a = await backend(cluster, sinkA);
      const b = await backend(cluster);
      const observer = await backend(cluster);
      const leases: Lease[] = [];
      const participants = [new Participant(a, 'a', leases), new Participant(b, 'b', leases)];
      await waitFor('a to lead', () => leases[0]?.isValid() === true);
      const leaseA = leases[0] as Lease;
      await waitFor('b to queue', async () => (await observer.observe()).candidates.length === 2);

      const sampler = sampleHolders(leases, observer);
      const victim = await pick(sinkA.lastSessionId() ?? '');
      let restarted = false;
      try {
        victim.kill9();
        const killedAt = performance.now();
        // Either way a's connection drops: its server died, or a follower lost its leader.
        await sinkA.next((l) => l.msg === 'zookeeper session suspended', ttlMs);
        await waitFor('a valid holder again', () => leases.some((l) => l.isValid()), ttlMs + 15_000);
        const recoveredMs = performance.now() - killedAt;
        const holder = leases.find((l) => l.isValid());
        assert.ok(leaseA.signal.aborted || holder === leaseA, 'while a holds an unaborted lease, nobody else may lead');
        await waitFor('the observer to name the valid holder', async () => {
          const view = await observer.observe().catch(() => undefined);
          return view?.leader !== undefined && leases.some((l) => l.isValid() && l.token === view.leader?.token);
        });
        const outcome = leaseA.signal.aborted ? `lease lost (${(leaseA.signal.reason as Error).message})` : 'lease survived';
        t.diagnostic(`${outcome}; a valid holder again after ${recoveredMs.toFixed(0)} ms`);
        // The member rejoining is one more disturbance to sample through.
        await victim.restart();
        restarted = true;
      } finally {
        const { violations, samples } = await sampler.stop();
        await Promise.all(participants.map((p) => p.stop()));
        if (!restarted) await victim.restart();
        assert.deepEqual(violations, []);
        assert.ok(samples >= 5, `only ${samples} samples taken`);
      }
    });
  }
});

/** Campaigns like the daemon does: again after every loss or failed attempt, until stopped. */
class Participant {
  private readonly controller = new AbortController();
  private readonly loop: Promise<void>;

  constructor(backend: Backend, node: string, leases: Lease[]) {
    const signal = this.controller.signal;
    this.loop = (async () => {
      while (!signal.aborted) {
        try {
          const lease = await backend.campaign(candidate(node), { signal });
          leases.push(lease);
          await new Promise((resolve) => {
            lease.signal.addEventListener('abort', resolve, { once: true });
            signal.addEventListener('abort', resolve, { once: true });
          });
          await lease.release();
        } catch (error) {
          if (signal.aborted) return;
          if (!(error instanceof LockdError) || !error.retryable) throw error;
          await delay(50);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.controller.abort(new Error('test over'));
    await this.loop;
  }
}

/**
 * Every ~10 ms: at most one lease valid; and while one is valid before and after an `observe()`,
 * that read (possibly stale, never from the future) names no newer leader.
 */
function sampleHolders(leases: readonly Lease[], observer: Backend): Sampler {
  return new Sampler(async () => {
    const valid = leases.filter((l) => l.isValid());
    if (valid.length > 1) return `${valid.length} leases valid at once: ${valid.map((l) => l.token).join(', ')}`;
    const holder = valid[0];
    if (!holder) return undefined;
    const named = (await observer.observe().catch(() => undefined))?.leader?.token;
    if (holder.isValid() && named !== undefined && named > holder.token) {
      return `observe() named token ${named} while the holder of ${holder.token} was valid`;
    }
    return undefined;
  });
}

/** The member whose `cons` lists session `sessionId` (hex). */
