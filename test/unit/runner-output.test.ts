import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LineSplitter } from '../../src/runner/line-splitter.js';
import { OutputTail } from '../../src/runner/output-tail.js';

function split(chunks: (string | Buffer)[], maxLineBytes?: number): [string, boolean][] {
  const lines: [string, boolean][] = [];
  const splitter = new LineSplitter((line, truncated) => lines.push([line, truncated]), maxLineBytes);
  for (const chunk of chunks) splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  splitter.end();
  return lines;
}

describe('LineSplitter', () => {
  test('splits on newlines across chunk boundaries and strips CR', () => {
    assert.deepEqual(split(['al', 'pha\nbe', 'ta\r\n\ngam', 'ma\n']), [
      ['alpha', false],
      ['beta', false],
      ['', false],
      ['gamma', false],
    ]);
  });

  test('hands over a partial last line at end, and nothing when output ended with a newline', () => {
    assert.deepEqual(split(['a\nb']), [
      ['a', false],
      ['b', false],
    ]);
    assert.deepEqual(split(['a\n']), [['a', false]]);
    assert.deepEqual(split([]), []);
  });

  test('decodes a multi-byte character split across chunks', () => {
    const bytes = Buffer.from('né\n');
    assert.deepEqual(split([bytes.subarray(0, 2), bytes.subarray(2)]), [['né', false]]);
  });

  test('a line of exactly the limit is whole; one byte more is cut and the rest of it dropped', () => {
    assert.deepEqual(split(['abcd\nabcde\nnext\n'], 4), [
      ['abcd', false],
      ['abcd', true],
      ['next', false],
    ]);
  });

  test('a long line is cut as soon as it passes the limit, before its newline arrives', () => {
    const lines: [string, boolean][] = [];
    const splitter = new LineSplitter((line, truncated) => lines.push([line, truncated]), 4);
    splitter.push(Buffer.from('ab'));
    splitter.push(Buffer.from('cdefgh'));
    assert.deepEqual(lines, [['abcd', true]]);
    splitter.push(Buffer.from('ijk'));
    splitter.push(Buffer.from('l\nz'));
    splitter.end();
    assert.deepEqual(lines, [
      ['abcd', true],
      ['z', false],
    ]);
  });

  test('the cut never splits a character', () => {
    // 'a' + 'é' × 3 = 7 bytes; a 4-byte cut would fall inside the second 'é'.
    assert.deepEqual(split(['aééé\n'], 4), [['aé', true]]);
  });

  test('defaults to a 4 KiB limit', () => {
    const [first] = split(['x'.repeat(5000) + '\n']);
    assert.deepEqual(first, ['x'.repeat(4096), true]);
  });
});

describe('OutputTail', () => {
  test('keeps everything while under the limit', () => {
    const tail = new OutputTail(8);
    tail.push(Buffer.from('abc'));
    tail.push(Buffer.from('de'));
    assert.equal(tail.toString(), 'abcde');
    assert.equal(new OutputTail(8).toString(), '');
  });

  test('keeps only the last bytes, in order, across wraps of the ring', () => {
    const tail = new OutputTail(8);
    let all = '';
    for (let i = 0; i < 50; i++) {
      const chunk = `${i},`;
      all += chunk;
      tail.push(Buffer.from(chunk));
      assert.equal(tail.toString(), all.slice(-8));
    }
  });

  test('a chunk larger than the limit keeps its own last bytes', () => {
    const tail = new OutputTail(8);
    tail.push(Buffer.from('xy'));
    tail.push(Buffer.from('0123456789'));
    assert.equal(tail.toString(), '23456789');
    tail.push(Buffer.from('ab'));
    assert.equal(tail.toString(), '456789ab');
  });

  test('filling the ring exactly keeps all of it', () => {
    const tail = new OutputTail(4);
    tail.push(Buffer.from('ab'));
    tail.push(Buffer.from('cd'));
    assert.equal(tail.toString(), 'abcd');
  });

  test('drops the orphaned bytes of a character cut at the start of the window', () => {
    const tail = new OutputTail(4);
    // 'x€€' is 7 bytes; its last 4 begin with the final continuation byte of the first '€'.
    tail.push(Buffer.from('x€€'));
    assert.equal(tail.toString(), '€');
    assert.equal(Buffer.byteLength(tail.toString()), 3);
  });

  test('defaults to 4 KiB', () => {
    const tail = new OutputTail();
    tail.push(Buffer.from('a'.repeat(10_000) + 'END'));
    assert.equal(Buffer.byteLength(tail.toString()), 4096);
    assert.ok(tail.toString().endsWith('aEND'));
  });
});
