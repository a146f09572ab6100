import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { embeddedTarget, LockdCluster } from '../helpers/lockd-cluster.js';
import { lockdBin } from '../helpers/lockd-process.js';
import { requireBinary } from '../helpers/require-binary.js';

/** Logs are JSON lines for machines, readable lines for a person at a terminal. */
describe('log format follows stdout', () => {
  const cluster = new LockdCluster(embeddedTarget, { ttl: '3s' });
  after(() => cluster.stop());

  it('on a terminal (a pty from script(1)) lines are readable, not JSON', async () => {
    requireBinary('/usr/bin/script', 'bsdutils');
    const config = cluster.writeConfig('tty', '  {}');
    const child = spawn('/usr/bin/script', ['-qec', `${process.execPath} ${lockdBin} run -c ${config}`, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no leadership line on the terminal:\n${output}`)), 15_000);
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (/INFO.*became leader/.test(output)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    } finally {
      child.kill('SIGTERM');
    }
    const line = output.split('\n').find((l) => l.includes('became leader')) ?? '';
    assert.match(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] /);
    assert.throws(() => JSON.parse(line));
  });
});
