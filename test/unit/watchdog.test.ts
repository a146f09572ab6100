import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { monotonicMs } from '../../src/clock.js';
import { Watchdog } from '../../src/fencing/watchdog.js';
import { encodeMessage, parseMessage, type WatchdogMessage } from '../../src/fencing/watchdog-protocol.js';
import { livingMembers, signalGroup } from '../../src/runner/process-group.js';
import { waitFor } from '../helpers/wait-for.js';

/** A process group whose leader ignores SIGTERM and has a child that does too, like a job that cleans up forever. */
function stubbornGroup(): ChildProcess {
  const child = spawn('/bin/sh', ['-c', "trap '' TERM; sleep 60 & wait; wait"], { detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

/** A group whose leader exits on SIGTERM (records when). */
function politeGroup(): { child: ChildProcess; termAt: Promise<number> } {
  const child = spawn('/bin/sh', ['-c', "trap 'exit 0' TERM; while :; do sleep 0.02; done"], { detached: true, stdio: 'ignore' });
  const termAt = once(child, 'exit').then(() => monotonicMs());
  return { child, termAt };
}

async function gone(pgid: number, timeoutMs: number): Promise<number> {
  await waitFor(`group ${pgid} to be gone`, () => livingMembers(pgid).length === 0, timeoutMs, 5);
  return monotonicMs();
}

function silent(): pino.Logger {
  return pino({ level: 'silent' });
}

describe('watchdog protocol', () => {
  it('round-trips every message and ignores malformed lines', () => {
    const messages: WatchdogMessage[] = [
      { kind: 'deadline', session: 'a1b2', killBy: 12345.678 },
      { kind: 'watch', session: 'a1b2', pgid: 4242, startTime: '998877', graceMs: 600 },
      { kind: 'watch', session: 'uuid-1', pgid: 4243, startTime: undefined, graceMs: 0 },
      { kind: 'forget', pgid: 4242 },
      { kind: 'end', session: 'a1b2' },
    ];
    for (const message of messages) assert.deepEqual(parseMessage(encodeMessage(message).trimEnd()), message);
    for (const line of ['', 'deadline a1b2', 'deadline a1b2 soon', 'watch s 1 - 10', 'watch s 12 - -5', 'forget -3', 'kill 12', 'watch s 1.5 - 10']) {
      assert.equal(parseMessage(line), undefined, line);
    }
  });
});

describe('watchdog process (the dead man\'s switch)', { timeout: 30_000 }, () => {
  it('SIGKILLs a registered group at its kill deadline, SIGTERM the grace before, and never earlier', async () => {
    const watchdog = await Watchdog.start(silent());
    const stubborn = stubbornGroup();
    const polite = politeGroup();
    const unrelated = stubbornGroup();
    try {
      const killBy = monotonicMs() + 800;
      watchdog.deadline('s1', killBy);
      watchdog.watch('s1', stubborn.pid!, 300);
      watchdog.watch('s1', polite.child.pid!, 300);
      const stubbornGone = await gone(stubborn.pid!, 5000);
      const politeGone = await polite.termAt;
      assert.ok(stubbornGone >= killBy, `killed ${(killBy - stubbornGone).toFixed(0)} ms before the deadline`);
      assert.ok(stubbornGone - killBy < 250, `killed ${(stubbornGone - killBy).toFixed(0)} ms after the deadline`);
      assert.ok(politeGone >= killBy - 300, `SIGTERM came ${(killBy - 300 - politeGone).toFixed(0)} ms before deadline − grace`);
      assert.ok(politeGone < killBy, 'SIGTERM came before SIGKILL would have');
      assert.ok(livingMembers(unrelated.pid!).length > 0, 'a group nobody registered is left alone');
    } finally {
      await watchdog.close();
      signalGroup(unrelated.pid!, 'SIGKILL');
      signalGroup(stubborn.pid!, 'SIGKILL');
      signalGroup(polite.child.pid!, 'SIGKILL');
    }
  });

  it('a deadline moved on by renewals keeps the group alive; a forgotten group is never signalled', async () => {
    const watchdog = await Watchdog.start(silent());
    const kept = stubbornGroup();
    const forgotten = stubbornGroup();
    try {
      watchdog.deadline('s1', monotonicMs() + 400);
      watchdog.watch('s1', kept.pid!, 100);
      watchdog.watch('s1', forgotten.pid!, 100);
      watchdog.forget(forgotten.pid!);
      const until = monotonicMs() + 1500;
      // Renewals every 100 ms, as acknowledged keep-alives would move the deadline.
      await waitFor(
        '1.5 s of renewals',
        () => {
          watchdog.deadline('s1', monotonicMs() + 400);
          return monotonicMs() >= until;
        },
        5000,
        100,
      );
      assert.ok(livingMembers(kept.pid!).length > 0, 'a renewed session\'s group must live');
      assert.ok(livingMembers(forgotten.pid!).length > 0);
      const stoppedAt = monotonicMs();
      const killedAt = await gone(kept.pid!, 5000);
      assert.ok(killedAt - stoppedAt >= 350, 'killed only once the renewals stopped and the deadline passed');
      assert.ok(livingMembers(forgotten.pid!).length > 0, 'the forgotten group is not the watchdog\'s to kill');
    } finally {
      await watchdog.close();
      signalGroup(kept.pid!, 'SIGKILL');
      signalGroup(forgotten.pid!, 'SIGKILL');
    }
  });

  it('when lockd dies (its pipe closes) every group gets SIGTERM at once and SIGKILL after its grace, long before a far deadline', async () => {
    const stubborn = stubbornGroup();
    const polite = politeGroup();
    // The watchdog of a separate "lockd" process that registers the groups and then dies by SIGKILL.
    const lockd = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', fakeLockd(stubborn.pid!, polite.child.pid!)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [ready] = (await once(lockd.stdout!, 'data')) as [Buffer];
      const watchdogPid = Number(ready.toString().trim());
      assert.ok(watchdogPid > 0);
      const diedAt = monotonicMs();
      lockd.kill('SIGKILL');
      const politeGone = await polite.termAt;
      const stubbornGone = await gone(stubborn.pid!, 5000);
      assert.ok(politeGone - diedAt < 300, `SIGTERM ${(politeGone - diedAt).toFixed(0)} ms after lockd died`);
      assert.ok(stubbornGone - diedAt >= 400 && stubbornGone - diedAt < 1000, `SIGKILL ${(stubbornGone - diedAt).toFixed(0)} ms after lockd died (grace 500 ms)`);
      await waitFor('the watchdog to exit once its groups are gone', () => !signalGroup(watchdogPid, 0), 5000);
    } finally {
      signalGroup(stubborn.pid!, 'SIGKILL');
      signalGroup(polite.child.pid!, 'SIGKILL');
    }
  });

  it('never signals a process whose start time is not the registered one (a reused pid)', async () => {
    const watchdog = await Watchdog.start(silent());
    const group = stubbornGroup();
    const stdin = (watchdog as unknown as { child: ChildProcess }).child.stdin!;
    try {
      watchdog.deadline('s1', monotonicMs() + 100);
      // As if the pid had belonged to another process when lockd registered it.
      stdin.write(encodeMessage({ kind: 'watch', session: 's1', pgid: group.pid!, startTime: '1', graceMs: 50 }));
      const probe = stubbornGroup();
      watchdog.watch('s1', probe.pid!, 50);
      await gone(probe.pid!, 5000);
      assert.ok(livingMembers(group.pid!).length > 0, 'the impostor group survived its deadline');
      signalGroup(group.pid!, 'SIGKILL');
    } finally {
      await watchdog.close();
      signalGroup(group.pid!, 'SIGKILL');
    }
  });
});

/** A script for a stand-in lockd: starts a watchdog, registers two groups under a deadline 60 s away, prints the watchdog pid, waits. */
function fakeLockd(stubborn: number, polite: number): string {
  const url = new URL('../../src/fencing/watchdog.ts', import.meta.url).href;
  const clock = new URL('../../src/clock.ts', import.meta.url).href;
  return `
    import { pino } from 'pino';
    const { Watchdog } = await import(${JSON.stringify(url)});
    const { monotonicMs } = await import(${JSON.stringify(clock)});
    const w = await Watchdog.start(pino({ level: 'silent' }));
    w.deadline('s1', monotonicMs() + 60000);
    w.watch('s1', ${stubborn}, 500);
    w.watch('s1', ${polite}, 500);
    setTimeout(() => process.stdout.write(w.pid + '\\n'), 50);
    setInterval(() => {}, 1000);
  `;
}
