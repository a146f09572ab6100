import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { pino } from 'pino';
import { ChangePoller } from '../../src/election/embedded/change-poller.js';
import { PushFeed } from '../../src/election/rows/push-feed.js';

/**
 * Change feeds tick fast only while someone waits for a turn: a daemon whose only listener is a
 * prefix watch (the requests inbox) sleeps between slow looks, which is most of its idle CPU.
 */
describe('change feed pace', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setImmediate'] }));
  afterEach(() => mock.timers.reset());

  it('embedded poller: a watch alone is looked at every 250 ms, a turn waiter every poll interval, and back to slow when it leaves', () => {
    let reads = 0;
    const poller = new ChangePoller(() => ++reads, 40);
    const watched: boolean[] = [];
    const unwatch = poller.subscribe((changed) => watched.push(changed), 'watch');
    mock.timers.tick(240);
    assert.equal(reads, 0, 'no look before 250 ms with only a watch');
    mock.timers.tick(10);
    assert.equal(reads, 1);
    const leave = poller.subscribe(() => undefined);
    mock.timers.tick(40 * 5);
    assert.equal(reads, 6, 'every 40 ms while a turn waiter listens');
    leave();
    mock.timers.tick(240);
    assert.equal(reads, 6, 'slow again once the waiter left');
    mock.timers.tick(10);
    assert.equal(reads, 7);
    unwatch();
    mock.timers.tick(1000);
    assert.equal(reads, 7, 'no listener, no look');
    assert.equal(watched.length, 7, 'the watch heard every look');
  });

  it('push feed: with only a watch it ticks once per fallback (each a look and a connection check); a waiter brings the 100 ms tick back', () => {
    let checks = 0;
    const feed = new PushFeed({ check: async () => (checks++, 0), close: () => undefined, logger: pino({ level: 'silent' }) });
    const looks: boolean[] = [];
    const unwatch = feed.subscribe((changed) => looks.push(changed), 'watch');
    assert.equal(checks, 1, 'the first listener checks the connection');
    mock.timers.tick(900);
    assert.deepEqual(looks, [], 'no tick within the fallback interval');
    mock.timers.tick(100);
    assert.deepEqual(looks, [true], 'the fallback look');
    assert.equal(checks, 2);
    const ticks: boolean[] = [];
    const leave = feed.subscribe((changed) => ticks.push(changed));
    mock.timers.tick(500);
    assert.equal(ticks.length, 5, 'every 100 ms for a waiter');
    leave();
    unwatch();
    feed.stop();
  });
});
