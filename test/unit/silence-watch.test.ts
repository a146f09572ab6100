import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SilenceWatch } from '../../src/election/rows/silence-watch.js';

describe('SilenceWatch (observed silence)', () => {
  const TTL = 3000;
  const clock = (): { now: () => number; advance: (ms: number) => void } => {
    let t = 1000;
    return { now: () => t, advance: (ms) => (t += ms) };
  };

  it('a session is due only after the same renewal count was seen for a full TTL on the local clock', () => {
    const c = clock();
    const watch = new SilenceWatch(TTL, c.now);
    assert.deepEqual(watch.observe([{ id: 'a', renewals: 4n }]), { due: [], nextDueAt: 1000 + TTL });
    c.advance(TTL - 1);
    assert.deepEqual(watch.observe([{ id: 'a', renewals: 4n }]).due, []);
    c.advance(1);
    assert.deepEqual(watch.observe([{ id: 'a', renewals: 4n }]).due, [{ id: 'a', renewals: 4n }]);
  });

  it('any renewal restarts the wait', () => {
    const c = clock();
    const watch = new SilenceWatch(TTL, c.now);
    watch.observe([{ id: 'a', renewals: 1n }]);
    c.advance(TTL - 100);
    assert.deepEqual(watch.observe([{ id: 'a', renewals: 2n }]), { due: [], nextDueAt: c.now() + TTL });
    c.advance(TTL - 1);
    assert.deepEqual(watch.observe([{ id: 'a', renewals: 2n }]).due, []);
  });

  it('forget() (after a reconnect) makes every session wait a full TTL again; a vanished session is forgotten', () => {
    const c = clock();
    const watch = new SilenceWatch(TTL, c.now);
    watch.observe([{ id: 'a', renewals: 1n }, { id: 'b', renewals: 1n }]);
    c.advance(TTL);
    watch.forget();
    assert.deepEqual(watch.observe([{ id: 'a', renewals: 1n }]).due, []);
    c.advance(TTL);
    assert.deepEqual(watch.observe([{ id: 'a', renewals: 1n }, { id: 'b', renewals: 1n }]).due, [{ id: 'a', renewals: 1n }]);
  });
});
