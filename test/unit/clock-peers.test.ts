import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ClockPeers, clockKey } from '../../src/clock-peers.js';
import { FakeBackend } from '../helpers/fake-backend.js';
import { FakeClock } from '../helpers/fake-clock.js';

const T0 = Date.UTC(2026, 11, 2);

/** A published entry as another replica would write it. */
const entry = (node: string, wall: number, seq: number): string => JSON.stringify({ node, wall, seq });

describe('ClockPeers', () => {
  it('leftover entries of dead replicas (never seen to change) do not outvote a fresh leader', async () => {
    const backend = new FakeBackend({ forbidden: [] });
    const clock = new FakeClock(T0);
    // Five replicas that ran here earlier left their last clocks behind, 3 to 14 s old.
    for (const [i, age] of [13_498, 9_477, 8_335, 5_084, 3_139].entries()) await backend.put(clockKey(`old-${i}`), entry(`old-${i}`, T0 - age, 7));
    const peers = new ClockPeers(backend, 'me', clock, pino({ level: 'silent' }));
    assert.deepEqual([...(await peers.offsets()).keys()], ['me']);
    assert.equal(await peers.agreesWithMajority(1000), true);
  });

  it('a running non-candidate counts once its entry was seen to change, until it stops changing', async () => {
    const backend = new FakeBackend({ forbidden: [] });
    const clock = new FakeClock(T0);
    const peers = new ClockPeers(backend, 'me', clock, pino({ level: 'silent' }));
    await backend.put(clockKey('peer'), entry('peer', T0 + 40, 1));
    assert.deepEqual([...(await peers.offsets()).keys()], ['me']);
    await backend.put(clockKey('peer'), entry('peer', T0 + 50, 2));
    assert.deepEqual(await peers.offsets(), new Map([['me', 0], ['peer', 50]]));
    await clock.advance(10_001);
    assert.deepEqual([...(await peers.offsets()).keys()], ['me']);
  });
});
