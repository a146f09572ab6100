import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const fixture = fileURLToPath(new URL('../fixtures/log-burst.ts', import.meta.url));
const LINES = 8000;

interface Report {
  maxGapMs: number;
  dropped: number;
}
interface Flushed {
  flushed: boolean;
  dropped: number;
}

test('a stdout pipe nobody reads costs dropped whole lines, never a blocked event loop', async () => {
  const child = fork(fixture, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, LOG_BURST_LINES: String(LINES), LOCKD_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  try {
    const nextMessage = async (what: string, timeoutMs: number): Promise<unknown> => {
      try {
        const [message] = await once(child, 'message', { signal: AbortSignal.timeout(timeoutMs) });
        return message;
      } catch (err) {
        throw new Error(`no ${what} from the child within ${timeoutMs} ms`, { cause: err });
      }
    };
    // The child's ~2.4 MB of logs meet a pipe of 64 KiB that nobody reads yet: with a blocking
    // destination it hangs on the first full pipe and never reports.
    const report = (await nextMessage('report (its event loop is blocked?)', 5000)) as Report;
    assert.ok(report.maxGapMs < 100, `the event loop stalled for ${report.maxGapMs.toFixed(0)} ms`);
    assert.ok(report.dropped > 0, 'lines beyond the bound were dropped');

    let output = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => (output += text));
    const [flushed] = (await Promise.all([nextMessage('flush result', 10_000), once(child.stdout!, 'end')])) as [Flushed, unknown];
    assert.equal(flushed.flushed, true);

    assert.ok(output.endsWith('\n'));
    const records = output
      .slice(0, -1)
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; seq?: number; dropped_lines?: number; level: number });
    const burst = records.filter((r) => r.msg === 'burst');
    const warnings = records.filter((r) => r.dropped_lines !== undefined);
    assert.equal(burst.length + flushed.dropped, LINES, 'every line was written whole or counted as dropped');
    assert.ok(
      burst.every((r, i) => i === 0 || r.seq! > burst[i - 1]!.seq!),
      'written lines keep their order',
    );
    assert.ok(warnings.length >= 1);
    assert.ok(warnings.every((w) => w.level === 40));
    assert.equal(
      warnings.reduce((sum, w) => sum + w.dropped_lines!, 0),
      flushed.dropped,
      'the warnings account for every dropped line',
    );
  } finally {
    child.kill('SIGKILL');
  }
});
