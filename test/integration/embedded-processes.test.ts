import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import type { Backend } from '../../src/election/backend.js';
import { createEmbeddedBackend } from '../../src/election/embedded/embedded-backend.js';
import { monotonicMs } from '../../src/clock.js';
import type { ChildArgs, ChildEvent } from './embedded-child.js';

const childScript = fileURLToPath(new URL('./embedded-child.ts', import.meta.url));
const TTL_MS = 2000;

/** A campaigning child process; events are buffered so none is missed. */
class Child {
  readonly events: ChildEvent[] = [];
  private readonly wakers: Array<() => void> = [];

  constructor(readonly process: ChildProcess) {
    createInterface({ input: process.stdout! }).on('line', (line) => {
      this.events.push(JSON.parse(line) as ChildEvent);
      for (const wake of this.wakers.splice(0)) wake();
    });
    process.on('exit', () => {
      for (const wake of this.wakers.splice(0)) wake();
    });
  }

  static start(args: ChildArgs): Child {
    return new Child(spawn(process.execPath, ['--import', 'tsx', childScript, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  }

  has(name: ChildEvent['event']): boolean {
    return this.events.some((e) => e.event === name);
  }

  /** The first event named `name`, with the monotonic time this process received it. */
  async next<K extends ChildEvent['event']>(name: K, timeoutMs: number): Promise<Extract<ChildEvent, { event: K }> & { seenAtMs: number }> {
    const deadline = monotonicMs() + timeoutMs;
    for (;;) {
      const event = this.events.find((e) => e.event === name);
      if (event) return { ...(event as Extract<ChildEvent, { event: K }>), seenAtMs: monotonicMs() };
      const left = deadline - monotonicMs();
      if (left <= 0 || this.process.exitCode !== null) throw new Error(`child sent no '${name}' within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async signal(signal: NodeJS.Signals): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = once(this.process, 'exit');
    this.process.kill(signal);
    await exited;
  }
}

describe('embedded backend across OS processes', () => {
  let dir = '';
  let n = 0;
  const children: Child[] = [];
  const backends: Backend[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockd-embedded-processes-'));
  });
  after(async () => {
    await Promise.all(children.map((c) => c.signal('SIGKILL')));
    await Promise.all(backends.map((b) => b.close()));
    await rm(dir, { recursive: true, force: true });
  });

  /** Two campaigning processes on one file; resolves once one leads and the other is queued. */
  async function twoCandidates(): Promise<{ path: string; cluster: string; leader: Child; follower: Child; observer: Backend }> {
    const path = join(dir, 'shared.db');
    const cluster = `processes-${++n}`;
    const observer = await createEmbeddedBackend({ type: 'embedded', path }, { cluster, ttlMs: TTL_MS, logger: pino({ level: 'silent' }) });
    backends.push(observer);
    const first = Child.start({ mode: 'campaign', path, cluster, ttlMs: TTL_MS, node: 'first' });
    children.push(first);
    await first.next('leader', 20_000);
    const second = Child.start({ mode: 'campaign', path, cluster, ttlMs: TTL_MS, node: 'second' });
    children.push(second);
    await second.next('campaigning', 20_000);
    // Being queued announces itself with no event: poll observe() with a deadline.
    const deadline = monotonicMs() + 10_000;
    while ((await observer.observe()).candidates.length < 2) {
      assert.ok(monotonicMs() < deadline, 'the second process never showed up as a candidate');
      await delay(20);
    }
    const view = await observer.observe();
    assert.deepEqual(view.candidates.map((c) => c.node), ['first', 'second']);
    assert.equal(view.leader?.node, 'first');
    assert.equal(second.has('leader'), false, 'exactly one process may lead');
    return { path, cluster, leader: first, follower: second, observer };
  }

  it('several processes creating one new database at the same moment all open it', { timeout: 60_000 }, async () => {
    const path = join(dir, 'created-at-once.db');
    const openers = Array.from({ length: 4 }, () => Child.start({ mode: 'open', path }));
    children.push(...openers);
    const results = await Promise.all(
      openers.map(async (child) => {
        await once(child.process, 'exit');
        return child.events;
      }),
    );
    assert.deepEqual(results, Array.from({ length: 4 }, () => [{ event: 'opened' }]));
  });

  it('SIGKILL of the leading process: the other leads once its session expires, within TTL + 0.5 s', { timeout: 60_000 }, async () => {
    const { path, cluster, leader, follower } = await twoCandidates();
    const killedAt = monotonicMs();
    await leader.signal('SIGKILL');
    // The dead process can no longer renew, so its session's expiry is final: read it.
    const db = new Database(path, { readonly: true });
    const expires = db
      .prepare(
        `SELECT s.expires FROM holders h JOIN sessions s ON s.id = h.session
         WHERE h.cluster = ? AND h.name = 'leader' ORDER BY h.token LIMIT 1`,
      )
      .pluck()
      .get(cluster) as number;
    db.close();
    const elected = await follower.next('leader', TTL_MS + 5000);
    assert.ok(elected.atMs >= expires, `took over ${(expires - elected.atMs).toFixed(0)} ms before the dead session expired`);
    assert.ok(elected.atMs - expires <= 500, `took over ${(elected.atMs - expires).toFixed(0)} ms after the expiry`);
    const gapMs = elected.seenAtMs - killedAt;
    assert.ok(gapMs <= TTL_MS + 500, `takeover ${gapMs.toFixed(0)} ms after SIGKILL (TTL ${TTL_MS} ms)`);
    const first = leader.events.find((e) => e.event === 'leader') as { token: string };
    assert.ok(BigInt(elected.token) > BigInt(first.token));
  });

  it('SIGTERM of the leading process (it closes its backend): the other leads within 0.5 s', { timeout: 60_000 }, async () => {
    const { leader, follower, observer } = await twoCandidates();
    const termAt = monotonicMs();
    const terminated = leader.signal('SIGTERM');
    const elected = await follower.next('leader', 5000);
    await terminated;
    assert.equal(leader.process.exitCode, 0, 'the leader must exit cleanly after closing');
    const handoffMs = elected.seenAtMs - termAt;
    assert.ok(handoffMs <= 500, `handoff took ${handoffMs.toFixed(0)} ms`);
    assert.equal((await observer.observe()).leader?.node, 'second');
  });
});
