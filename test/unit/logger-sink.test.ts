import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { BoundedLineSink } from '../../src/observe/logger.js';

/** A stdout whose reader takes each chunk only when the test says so. */
class HeldStdout extends Writable {
  readonly taken: string[] = [];
  private readonly held: ((err?: Error) => void)[] = [];

  override _write(chunk: Buffer, _encoding: string, callback: (err?: Error) => void): void {
    this.taken.push(chunk.toString());
    this.held.push(callback);
  }

  /** Lets the reader finish the oldest chunk it took; Writable then hands it the next one. */
  async readOne(err?: Error): Promise<void> {
    const callback = this.held.shift();
    assert.ok(callback, 'no chunk is being written');
    callback(err);
    // Writable calls the writer's callback on a later tick when _write completed synchronously.
    await new Promise((resolve) => process.nextTick(resolve));
  }
}

const line = (n: number): string => `${String(n).padStart(29, '0')}\n`; // 30 bytes

function sinkOf(maxPendingBytes: number): { stdout: HeldStdout; sink: BoundedLineSink; reports: number[] } {
  const stdout = new HeldStdout();
  const sink = new BoundedLineSink(stdout, maxPendingBytes);
  const reports: number[] = [];
  sink.onResumed = (dropped) => {
    reports.push(dropped);
    sink.write(`dropped ${dropped}\n`);
  };
  return { stdout, sink, reports };
}

describe('BoundedLineSink', () => {
  test('drops whole lines beyond the bound, keeps dropping until half drained, then reports the count', async () => {
    const { stdout, sink, reports } = sinkOf(100);
    for (let n = 1; n <= 5; n++) sink.write(line(n));
    assert.equal(sink.dropped, 2, 'lines 4 and 5 do not fit behind 90 pending bytes');

    await stdout.readOne();
    assert.equal(stdout.writableLength, 60);
    sink.write(line(6));
    assert.equal(sink.dropped, 3, 'still dropping: 60 bytes pending is more than half the bound');
    assert.deepEqual(reports, []);

    await stdout.readOne();
    assert.deepEqual(reports, [3]);
    sink.write(line(7));
    while (stdout.writableLength > 0) await stdout.readOne();
    assert.deepEqual(stdout.taken, [line(1), line(2), line(3), 'dropped 3\n', line(7)]);
    assert.equal(sink.dropped, 3);
  });

  test('a line longer than the bound is written when nothing is pending', () => {
    const { stdout, sink } = sinkOf(10);
    sink.write(line(1));
    assert.equal(sink.dropped, 0);
    assert.deepEqual(stdout.taken, [line(1)]);
  });

  test('after a write error every line is dropped and counted, and nothing is reported', async () => {
    const { stdout, sink, reports } = sinkOf(100);
    stdout.on('error', () => undefined);
    sink.write(line(1));
    sink.write(line(2));
    await stdout.readOne(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    sink.write(line(3));
    assert.equal(sink.dropped, 1);
    assert.deepEqual(reports, []);
    assert.equal(await sink.flush(1000), true, 'the failed writes are no longer pending');
  });

  test('flush resolves true once written, false when the reader stays stalled past the timeout', async () => {
    const { stdout, sink } = sinkOf(100);
    assert.equal(await sink.flush(1000), true, 'nothing pending');
    sink.write(line(1));
    assert.equal(await sink.flush(50), false);
    const flushed = sink.flush(1000);
    await stdout.readOne();
    assert.equal(await flushed, true);
  });
});
