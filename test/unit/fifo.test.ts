import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Fifo } from '../../src/scheduler/fifo.js';

describe('Fifo', () => {
  it('gives items back oldest first, across its compactions, and counts what it holds', () => {
    const fifo = new Fifo<number>();
    assert.equal(fifo.shift(), undefined);
    const out: number[] = [];
    for (let i = 0; i < 5000; i++) {
      fifo.push(i);
      if (i % 3 === 0) out.push(fifo.shift()!);
    }
    assert.equal(fifo.size, 5000 - out.length);
    for (let item = fifo.shift(); item !== undefined; item = fifo.shift()) out.push(item);
    assert.deepEqual(out, Array.from({ length: 5000 }, (_, i) => i));
    assert.equal(fifo.size, 0);
  });
});
