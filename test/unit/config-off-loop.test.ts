import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { loadConfigOffLoop } from '../../src/config/load-off-loop.js';
import { fencingWindow } from '../../src/election/fencing-window.js';
import { ConfigError } from '../../src/errors.js';
import { withLongestStall } from '../helpers/loop-stall.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lockd-off-loop-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

function manyJobs(count: number): string {
  const lines = ['backend:\n  type: etcd\n  endpoints: [http://127.0.0.1:2379]', 'leader:\n  ttl: 2s', 'jobs:'];
  for (let i = 0; i < count; i++) lines.push(`  tenant-${i}:`, `    schedule: "${i % 60} * * * *"`, '    run: ./bin/report ${TENANT_BIN:-x}');
  return lines.join('\n');
}

/** The loop's longest stretch while `work` runs. */
const longestStall = async (work: () => Promise<unknown>): Promise<number> => (await withLongestStall(work)).stallMs;

describe('loading the config off the event loop (reload)', () => {
  it('gives what loadConfig gives, ${VAR} from the env passed included', async () => {
    const file = write('small.yaml', manyJobs(3));
    const env = { TENANT_BIN: 'y' };
    assert.deepEqual(await loadConfigOffLoop(file, env), await loadConfig(file, env));
  });

  it('rejects an invalid file with the same ConfigError problems as loadConfig', async () => {
    const file = write('bad.yaml', 'jobs:\n  a:\n    schedule: "61 * * * *"\n    run: x\n    colour: red\n');
    const sync = await loadConfig(file).catch((err: unknown) => err);
    const off = await loadConfigOffLoop(file).catch((err: unknown) => err);
    assert.ok(off instanceof ConfigError && sync instanceof ConfigError);
    assert.deepEqual(off.problems, sync.problems);
    assert.equal(off.problems.length, 2);
  });

  it('10,000 jobs: the loop never stalls for a quarter of the self-fencing margin at TTL 2 s, where loading on it does', async (t) => {
    const file = write('large.yaml', manyJobs(10_000));
    const quarterMargin = fencingWindow('etcd', 2000).marginMs / 4;
    const onLoop = await longestStall(() => loadConfig(file));
    const offLoop = await longestStall(() => loadConfigOffLoop(file));
    t.diagnostic(`longest stall: ${offLoop.toFixed(0)} ms off the loop, ${onLoop.toFixed(0)} ms on it (limit ${quarterMargin} ms)`);
    assert.ok(offLoop < quarterMargin, `the loop stalled for ${offLoop.toFixed(0)} ms`);
    assert.ok(onLoop > quarterMargin, `loading on the loop stalled only ${onLoop.toFixed(0)} ms: the test no longer shows the difference`);
  });
});
