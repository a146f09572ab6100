import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SlotQueue, type SlotEntry } from '../../src/scheduler/slot-queue.js';
import { SerialGate } from '../../src/scheduler/serial-gate.js';

describe('SlotQueue', () => {
  it('pops in fireAt order (ties by job name) whatever the push order', () => {
    // A fixed LCG keeps the "random" order reproducible.
    let seed = 42;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const entries: SlotEntry[] = Array.from({ length: 500 }, (_, i) => {
      const fireAt = Math.floor(rand() * 100);
      return { job: `j${i}`, slot: fireAt, fireAt };
    });
    const q = new SlotQueue();
    for (const e of entries) q.push(e);
    assert.equal(q.size, 500);
    const out: SlotEntry[] = [];
    for (let e = q.pop(); e; e = q.pop()) out.push(e);
    const expected = [...entries].sort((a, b) => a.fireAt - b.fireAt || (a.job < b.job ? -1 : 1));
    assert.deepEqual(out, expected);
    assert.equal(q.peek(), undefined);
  });

  it('peek does not remove; clear empties', () => {
    const q = new SlotQueue();
    q.push({ job: 'b', slot: 2, fireAt: 2 });
    q.push({ job: 'a', slot: 1, fireAt: 1 });
    assert.equal(q.peek()?.job, 'a');
    assert.equal(q.size, 2);
    q.clear();
    assert.equal(q.size, 0);
  });
});

describe('SerialGate', () => {
  it('lets tickets through in order; a ticket that leaves early keeps the order', async () => {
    const gate = new SerialGate();
    const order: string[] = [];
    const a = gate.enter();
    const b = gate.enter();
    const c = gate.enter();
    assert.deepEqual([a.waited, b.waited, c.waited], [false, true, true]);
    void c.turn.then(() => order.push('c'));
    void b.turn.then(() => order.push('b'));
    b.leave(); // gives up before its turn (a queue deadline): c must still wait for a
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, []);
    a.leave();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ['b', 'c']);
    c.leave();
    assert.equal(gate.enter().waited, false);
  });
});
