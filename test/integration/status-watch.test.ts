import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { embeddedTarget, LockdCluster } from '../helpers/lockd-cluster.js';
import { lockdBin } from '../helpers/lockd-process.js';

/** `lockd status --watch` redraws when the cluster changes. */
describe('lockd status --watch', () => {
  const cluster = new LockdCluster(embeddedTarget, { ttl: '3s' });
  after(() => cluster.stop());

  it('prints "no leader", then the leader once one is elected, without being restarted', async () => {
    const config = cluster.writeConfig('watcher', '  {}');
    const watch = spawn(process.execPath, [lockdBin, 'status', '--watch', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const seen = (match: RegExp, timeoutMs: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${match} in ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
        const check = (): void => {
          if (!lines.some((l) => match.test(l))) return;
          clearTimeout(timer);
          reader.off('line', check);
          resolve();
        };
        reader.on('line', check);
        check();
      });
    const reader = createInterface({ input: watch.stdout }).on('line', (l) => lines.push(l));
    try {
      await seen(/^leader {2}none/, 10_000);
      cluster.start('watched', '  {}');
      await seen(/^leader {2}watched /, 10_000);
    } finally {
      watch.kill('SIGINT');
    }
  });
});
