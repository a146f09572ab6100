import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import type { JobConfig } from '../../src/config/types.js';
import { runAttempt } from '../../src/runner/run-attempt.js';
import type { AttemptResult, GroupRegistry } from '../../src/runner/types.js';
import { monotonicMs } from '../../src/clock.js';
import { LeadershipLostError } from '../../src/errors.js';

interface LogEntry {
  level: number;
  msg: string;
  job?: string;
  run_id?: string;
  stream?: string;
  truncated?: boolean;
  /** performance.now() when pino wrote the line. */
  at: number;
  [key: string]: unknown;
}

/** Parses the JSON lines pino writes and lets a test wait for one. */
class LogSink {
  readonly entries: LogEntry[] = [];
  private waiters: { match: (e: LogEntry) => boolean; resolve: (e: LogEntry) => void }[] = [];

  write(line: string): void {
    const entry = { ...(JSON.parse(line) as LogEntry), at: performance.now() };
    this.entries.push(entry);
    this.waiters = this.waiters.filter((w) => !(w.match(entry) && (w.resolve(entry), true)));
  }

  waitFor(match: (e: LogEntry) => boolean): Promise<LogEntry> {
    const seen = this.entries.find(match);
    return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  lines(stream: 'stdout' | 'stderr'): LogEntry[] {
    return this.entries.filter((e) => e.stream === stream);
  }
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lockd-runner-'));
/** Processes a failed test may leave behind. */
const leftovers = new Set<number>();
after(() => {
  for (const pid of leftovers) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

function job(over: Partial<JobConfig>): JobConfig {
  return {
    name: 'report',
    schedule: '* * * * *',
    timezone: 'UTC',
    overlap: 'skip',
    misfire: 'run_once',
    deadlineMs: 600_000,
    retries: 0,
    retryBackoffMs: 0,
    killGraceMs: 5000,
    jitterMs: 0,
    history: 100,
    outputTailBytes: 4096,
    env: {},
    ...over,
  };
}

function start(over: Partial<JobConfig>, opts: { signal?: AbortSignal; lockdEnv?: Record<string, string>; groups?: GroupRegistry } = {}) {
  const sink = new LogSink();
  const started: { pid: number; at: number }[] = [];
  const result: Promise<AttemptResult> = runAttempt({
    job: job(over),
    runId: 'report:1700000000000',
    lockdEnv: opts.lockdEnv ?? { LOCKD_JOB: 'report', LOCKD_RUN_ID: 'report:1700000000000' },
    signal: opts.signal ?? new AbortController().signal,
    logger: pino({ level: 'debug' }, sink),
    onStarted: (pid, at) => started.push({ pid, at }),
    ...(opts.groups === undefined ? {} : { groups: opts.groups }),
  });
  return { result, sink, started };
}

/** Dead includes a zombie: this sandbox's init reaps orphans only every couple of seconds. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH' || code === 'ENOENT') return false;
    throw err;
  }
}

/** The pid a job printed on the line that starts with `prefix`, registered for cleanup. */
async function printedPid(sink: LogSink, prefix: string): Promise<number> {
  const entry = await sink.waitFor((e) => e.stream === 'stdout' && e.msg.startsWith(prefix));
  const pid = Number(entry.msg.slice(prefix.length));
  assert.ok(Number.isInteger(pid) && pid > 0, entry.msg);
  leftovers.add(pid);
  return pid;
}

describe('runAttempt: exit status', () => {
  test('exit 0 is success, with output, times and onStarted', async () => {
    const before = Date.now();
    const { result, started } = start({ run: 'echo hello' });
    const r = await result;
    assert.equal(r.outcome, 'success');
    assert.equal(r.exitCode, 0);
    assert.equal(r.signal, null);
    assert.equal(r.error, undefined);
    assert.equal(r.outputTail, 'hello\n');
    assert.equal(started.length, 1);
    assert.ok(started[0]!.pid > 0);
    assert.equal(started[0]!.at, r.startedAt);
    assert.ok(before <= r.startedAt && r.startedAt <= r.endedAt && r.endedAt <= Date.now());
    assert.ok(r.durationMs >= 0 && r.durationMs < 5000, String(r.durationMs));
  });

  test('a non-zero exit is failed with its code', async () => {
    const r = await start({ run: 'echo partial-work; exit 3' }).result;
    assert.equal(r.outcome, 'failed');
    assert.equal(r.exitCode, 3);
    assert.equal(r.signal, null);
    assert.equal(r.error, 'exited with code 3');
    assert.equal(r.outputTail, 'partial-work\n');
  });

  test('death by a signal is failed with the signal name', async () => {
    const r = await start({ run: 'kill -KILL $$' }).result;
    assert.equal(r.outcome, 'failed');
    assert.equal(r.exitCode, null);
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(r.error, 'terminated by SIGKILL');
  });
});

describe('runAttempt: spawn errors resolve, never reject', () => {
  test('a missing program', async () => {
    const { result, started } = start({ command: [path.join(tmp, 'no-such-program'), '--flag'] });
    const r = await result;
    assert.equal(r.outcome, 'spawn_error');
    assert.equal(r.exitCode, null);
    assert.match(r.error ?? '', /no-such-program: no such file/);
    assert.deepEqual(started, []);
  });

  test('a program not found in PATH', async () => {
    const r = await start({ command: ['lockd-test-no-such-command'] }).result;
    assert.equal(r.outcome, 'spawn_error');
    assert.match(r.error ?? '', /lockd-test-no-such-command: no such file \(or not found in PATH\)/);
  });

  test('a program that is not executable', async () => {
    const file = path.join(tmp, 'not-executable');
    writeFileSync(file, '#!/bin/sh\necho hi\n');
    chmodSync(file, 0o644);
    const r = await start({ command: [file] }).result;
    assert.equal(r.outcome, 'spawn_error');
    assert.match(r.error ?? '', /not-executable: permission denied/);
  });

  test('a missing working directory is named as such, not blamed on /bin/sh', async () => {
    const missing = path.join(tmp, 'missing-dir');
    const { result, started } = start({ run: 'echo hi', cwd: missing });
    const r = await result;
    assert.equal(r.outcome, 'spawn_error');
    assert.equal(r.error, `working directory ${missing} does not exist`);
    assert.deepEqual(started, []);
  });

  test('an argument Node refuses (NUL byte)', async () => {
    const r = await start({ command: ['/bin/echo', 'a\0b'] }).result;
    assert.equal(r.outcome, 'spawn_error');
    assert.match(r.error ?? '', /^cannot start \/bin\/echo: .*null bytes/);
  });
});

describe('runAttempt: shell, argv, cwd and environment', () => {
  test('`run` goes through the shell: pipes and $LOCKD_JOB expand', async () => {
    const r = await start({ run: 'echo "$LOCKD_JOB" | tr a-z A-Z' }).result;
    assert.equal(r.outputTail, 'REPORT\n');
  });

  test('`command` is argv without a shell: a $VAR argument is literal', async () => {
    const r = await start({ command: ['/bin/echo', '$LOCKD_JOB', '|', 'tr'] }).result;
    assert.equal(r.outcome, 'success');
    assert.equal(r.outputTail, '$LOCKD_JOB | tr\n');
  });

  test('runs in cwd', async () => {
    const r = await start({ command: ['/bin/pwd'], cwd: tmp }).result;
    assert.equal(r.outputTail, `${tmp}\n`);
  });

  test('the child sees daemon env, job env and LOCKD_*; LOCKD_* win over job env', async () => {
    const r = await start(
      {
        env: { REPORT_BUCKET: 's3://reports', LOCKD_JOB: 'from-job-env' },
        run: 'printf "%s|%s|%s|%s" "$REPORT_BUCKET" "$LOCKD_JOB" "$LOCKD_FENCING_TOKEN" "$PATH"',
      },
      { lockdEnv: { LOCKD_JOB: 'report', LOCKD_FENCING_TOKEN: '9007199254740993' } },
    ).result;
    assert.equal(r.outputTail, `s3://reports|report|9007199254740993|${process.env.PATH}`);
  });

  test('job env PATH is used to find a `command`', async () => {
    const bin = mkdtempSync(path.join(tmp, 'bin-'));
    writeFileSync(path.join(bin, 'lockd-test-tool'), '#!/bin/sh\necho tool ran\n', { mode: 0o755 });
    const r = await start({ command: ['lockd-test-tool'], env: { PATH: `${bin}:/usr/bin:/bin` } }).result;
    assert.equal(r.outputTail, 'tool ran\n');
  });
});

describe('runAttempt: timeout, abort and the process group', () => {
  test('timeout: SIGTERM to the group ends `sleep 30` long before 30 s', async () => {
    const r = await start({ run: 'sleep 30', timeoutMs: 200 }).result;
    assert.equal(r.outcome, 'timeout');
    assert.equal(r.error, 'timeout after 200ms');
    assert.equal(r.signal, 'SIGTERM');
    assert.ok(r.durationMs >= 195, `ended after ${r.durationMs} ms`);
    assert.ok(r.durationMs < 4000, `ended after ${r.durationMs} ms`);
  });

  test('a child that ignores SIGTERM gets SIGKILL after kill grace', async () => {
    const graceMs = 600;
    const { result, sink } = start({
      run: "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.05; done",
      timeoutMs: 200,
      killGraceMs: graceMs,
    });
    const stopping = sink.waitFor((e) => e.msg.startsWith('stopping job'));
    const gotTerm = sink.waitFor((e) => e.msg === 'got-term');
    const r = await result;
    const ended = performance.now();
    assert.equal(r.outcome, 'timeout');
    assert.equal(r.signal, 'SIGKILL');
    // The child was alive and handled SIGTERM, then was killed no sooner than the grace.
    assert.ok((await gotTerm).at >= (await stopping).at);
    const gap = ended - (await stopping).at;
    assert.ok(gap >= graceMs, `SIGKILL ${gap} ms after SIGTERM`);
    assert.ok(gap < graceMs + 3000, `SIGKILL ${gap} ms after SIGTERM`);
    assert.ok(r.durationMs >= 200 + graceMs - 5, String(r.durationMs));
  });

  test('abort: killed with the reason, and the grandchild is dead too', async () => {
    const controller = new AbortController();
    const { result, sink } = start({ run: 'sleep 100 & echo "grandchild $!"; wait' }, { signal: controller.signal });
    const grandchild = await printedPid(sink, 'grandchild ');
    assert.ok(isRunning(grandchild));
    controller.abort(new Error('leadership lost'));
    const r = await result;
    assert.equal(r.outcome, 'killed');
    assert.equal(r.error, 'leadership lost');
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(isRunning(grandchild), false);
  });

  test('lease loss: SIGKILL lands by the loss\'s kill deadline, not after kill_grace; the group is reported until gone', async () => {
    const controller = new AbortController();
    const groups: string[] = [];
    const { result, sink } = start(
      { run: "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.05; done", killGraceMs: 5000 },
      { signal: controller.signal, groups: { add: (pgid, grace) => groups.push(`add ${pgid} ${grace}`), remove: (pgid) => groups.push(`remove ${pgid}`) } },
    );
    await sink.waitFor((e) => e.msg === 'ready');
    const killBy = monotonicMs() + 300;
    controller.abort(new LeadershipLostError('etcd session lost', { killBy }));
    const r = await result;
    const ended = monotonicMs();
    assert.equal(r.outcome, 'killed');
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(sink.entries.some((e) => e.msg === 'got-term'), 'SIGTERM came first');
    assert.ok(ended >= killBy - 5, `SIGKILL ${(killBy - ended).toFixed(0)} ms before the kill deadline`);
    assert.ok(ended - killBy < 150, `the group was still alive ${(ended - killBy).toFixed(0)} ms after its kill deadline`);
    assert.equal(groups.length, 2);
    assert.match(groups[0]!, /^add \d+ 5000$/);
    assert.equal(groups[1], groups[0]!.replace(/^add (\d+) 5000$/, 'remove $1'));
  });

  test('a loss the backend reported (no kill deadline): SIGKILL at once', async () => {
    const controller = new AbortController();
    const { result, sink } = start({ run: "trap '' TERM; echo ready; while :; do sleep 0.05; done", killGraceMs: 5000 }, { signal: controller.signal });
    await sink.waitFor((e) => e.msg === 'ready');
    const abortedAt = monotonicMs();
    controller.abort(new LeadershipLostError('lease not found'));
    const r = await result;
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(monotonicMs() - abortedAt < 150, `took ${(monotonicMs() - abortedAt).toFixed(0)} ms`);
  });

  test('nothing of the job runs before its process group is registered (the start gate)', async () => {
    const marker = path.join(tmp, 'gate-marker');
    const seen: boolean[] = [];
    const registry: GroupRegistry = {
      add: () => {
        // Give an ungated child all the time it needs to get going; the gated one must wait.
        const until = performance.now() + 150;
        while (performance.now() < until);
        seen.push(existsSync(marker));
      },
      remove: () => undefined,
    };
    const r = await start({ command: ['/bin/sh', '-c', `touch ${marker}`] }, { groups: registry }).result;
    assert.equal(r.outcome, 'success');
    assert.deepEqual(seen, [false], 'the job ran before lockd had registered its group');
    assert.equal(existsSync(marker), true, 'the job ran once the gate opened');
  });

  test('abort while the spawn is in flight still kills the child', async () => {
    const controller = new AbortController();
    const { result, started } = start({ run: 'sleep 30' }, { signal: controller.signal });
    controller.abort(new Error('shutting down'));
    const r = await result;
    assert.equal(started.length, 1);
    assert.equal(r.outcome, 'killed');
    assert.equal(r.error, 'shutting down');
    assert.ok(r.durationMs < 4000, String(r.durationMs));
  });

  test('an already-aborted signal spawns nothing', async () => {
    const controller = new AbortController();
    controller.abort(new Error('lock lost'));
    const marker = path.join(tmp, 'must-not-exist');
    const { result, started } = start({ run: `touch ${marker}` }, { signal: controller.signal });
    const r = await result;
    assert.equal(r.outcome, 'killed');
    assert.equal(r.error, 'lock lost');
    assert.equal(r.durationMs, 0);
    assert.deepEqual(started, []);
    assert.equal(existsSync(marker), false);
  });

  test('a leader that exits leaving a background process: the group is killed before resolving', async () => {
    const { result, sink } = start({ run: 'sleep 100 & echo "grandchild $!"' });
    const grandchild = await printedPid(sink, 'grandchild ');
    const r = await result;
    assert.equal(r.outcome, 'success');
    assert.equal(isRunning(grandchild), false);
    const warning = sink.entries.find((e) => e.msg.startsWith('job exited but left processes'));
    assert.deepEqual(warning?.leftovers, [grandchild]);
  });

  test('a background process that ignores SIGTERM and closed its output is SIGKILLed too', async () => {
    const { result, sink } = start({
      run: `(trap '' TERM; exec sleep 100) >/dev/null 2>&1 & echo "grandchild $!"`,
      killGraceMs: 300,
    });
    const grandchild = await printedPid(sink, 'grandchild ');
    const r = await result;
    assert.equal(r.outcome, 'success');
    assert.equal(isRunning(grandchild), false);
    assert.ok(r.durationMs >= 300, String(r.durationMs));
  });

  test('a process that left the group but holds the output pipe does not hold up the attempt', async () => {
    const { result, sink } = start({ run: 'setsid sleep 100 & echo "escaped $!"' });
    const escaped = await printedPid(sink, 'escaped ');
    const r = await result;
    assert.equal(r.outcome, 'success');
    assert.ok(r.durationMs < 4000, String(r.durationMs));
    assert.equal(r.outputTail, `escaped ${escaped}\n`);
    process.kill(escaped, 'SIGKILL');
  });
});

describe('runAttempt: output', () => {
  test('lines are logged with job, run_id and stream; stderr at warn; a partial last line is flushed', async () => {
    const { result, sink } = start({ run: "printf 'one\\ntwo\\n'; echo oops >&2; printf 'no newline'" });
    const r = await result;
    assert.equal(r.outcome, 'success');
    const pick = (e: LogEntry) => ({ level: e.level, job: e.job, run_id: e.run_id, msg: e.msg });
    const run_id = 'report:1700000000000';
    assert.deepEqual(sink.lines('stdout').map(pick), [
      { level: 30, job: 'report', run_id, msg: 'one' },
      { level: 30, job: 'report', run_id, msg: 'two' },
      { level: 30, job: 'report', run_id, msg: 'no newline' },
    ]);
    assert.deepEqual(sink.lines('stderr').map(pick), [{ level: 40, job: 'report', run_id, msg: 'oops' }]);
  });

  test('a format-like line is logged verbatim', async () => {
    const { result, sink } = start({ command: ['/bin/echo', '100%s %d %j %%'] });
    await result;
    assert.deepEqual(
      sink.lines('stdout').map((e) => e.msg),
      ['100%s %d %j %%'],
    );
  });

  test('every line is logged, and the tail keeps exactly the last 4 KiB', async () => {
    const { result, sink } = start({ command: ['seq', '1', '20000'] });
    const r = await result;
    const all = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('');
    assert.equal(r.outputTail, all.slice(-4096));
    assert.equal(sink.lines('stdout').length, 20000);
    assert.equal(sink.lines('stdout').at(-1)?.msg, '20000');
  });

  test('output_tail sets how much the tail keeps; 0 keeps none', async () => {
    const kept = await start({ command: ['seq', '1', '2000'], outputTailBytes: 10 }).result;
    assert.equal(kept.outputTail, '\n1999\n2000\n'.slice(-10));
    assert.equal((await start({ command: ['seq', '1', '2000'], outputTailBytes: 0 }).result).outputTail, '');
  });

  test('a very long line is logged cut at 4 KiB', async () => {
    const { result, sink } = start({ run: "head -c 10000 /dev/zero | tr '\\0' x; echo; echo next" });
    await result;
    const lines = sink.lines('stdout');
    assert.deepEqual(
      lines.map((e) => [e.msg.length, e.truncated]),
      [
        [4096, true],
        [4, undefined],
      ],
    );
  });
});
