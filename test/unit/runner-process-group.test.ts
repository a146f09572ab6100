import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { killProcessGroup, livingMembers, signalGroup } from '../../src/runner/process-group.js';

interface Group {
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line. */
  firstLine: Promise<string>;
}

const groups: Group[] = [];
after(() => {
  for (const g of groups) signalGroup(g.pid, 'SIGKILL');
});

/** A detached `/bin/sh -c script`, leader of its own process group. */
function startGroup(script: string): Group {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const firstLine = new Promise<string>((resolve) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
  });
  const group = { child, pid: child.pid!, exited, firstLine };
  groups.push(group);
  return group;
}

function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Polls `check` (no event exists for a process becoming a zombie) until true or 5 s pass. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(5);
  }
}

const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));

describe('signalGroup / livingMembers', () => {
  test('a group that does not exist', () => {
    assert.equal(signalGroup(pidMax, 0), false);
    assert.deepEqual(livingMembers(pidMax), []);
  });

  test('lists the leader and the processes it started', async () => {
    const g = startGroup('sleep 100 & echo $!; wait');
    const grandchild = Number(await g.firstLine);
    assert.deepEqual(
      livingMembers(g.pid).sort((a, b) => a - b),
      [g.pid, grandchild].sort((a, b) => a - b),
    );
    signalGroup(g.pid, 'SIGKILL');
    await g.exited;
  });

  test('a zombie is not a living member', async () => {
    // After the exec, `sleep 0`'s parent is `sleep 100`, which never reaps it.
    const g = startGroup('sleep 0 & echo $!; exec sleep 100');
    const zombie = Number(await g.firstLine);
    await until(() => processState(zombie) === 'Z', 'the zombie');
    assert.equal(signalGroup(g.pid, 0), true);
    assert.deepEqual(livingMembers(g.pid), [g.pid]);
    signalGroup(g.pid, 'SIGKILL');
    await g.exited;
    assert.deepEqual(livingMembers(g.pid), []);
  });
});

describe('killProcessGroup', () => {
  test('a leader that exits on SIGTERM: resolves at once, before the grace', async () => {
    const g = startGroup('echo ready; sleep 100 & wait');
    await g.firstLine;
    const t0 = performance.now();
    assert.deepEqual(await killProcessGroup(g.pid, 5000, g.exited), []);
    assert.ok(performance.now() - t0 < 3000);
    assert.equal((await g.exited).signal, 'SIGTERM');
    assert.deepEqual(livingMembers(g.pid), []);
  });

  for (const withExit of [true, false]) {
    test(`SIGTERM ignored: SIGKILL after the grace (${withExit ? 'leader exit given' : 'polling only'})`, async () => {
      const g = startGroup("trap '' TERM; echo ready; sleep 100 & wait");
      await g.firstLine;
      const t0 = performance.now();
      const survivors = await killProcessGroup(g.pid, 300, withExit ? g.exited : undefined);
      const took = performance.now() - t0;
      assert.deepEqual(survivors, []);
      assert.ok(took >= 300 && took < 3300, `took ${took} ms`);
      assert.equal((await g.exited).signal, 'SIGKILL');
      assert.deepEqual(livingMembers(g.pid), []);
    });
  }

  test('a group that is already gone', async () => {
    const g = startGroup('exit 0');
    await g.exited;
    await until(() => livingMembers(g.pid).length === 0, 'the group to empty');
    assert.deepEqual(await killProcessGroup(g.pid, 5000, g.exited), []);
  });
});
