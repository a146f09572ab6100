import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, connect, Lockd, LockTimeoutError, UsageError, type BackendOptions } from '../../src/index.js';
import { waitFor } from '../helpers/wait-for.js';
import type { LibraryChildArgs } from './library-child.js';

const childScript = fileURLToPath(new URL('./library-child.ts', import.meta.url));

/** A library-child process and the JSON events it printed. */
class Child {
  readonly events: Array<Record<string, unknown>> = [];
  constructor(readonly process: ChildProcess) {
    createInterface({ input: process.stdout! }).on('line', (line) => this.events.push(JSON.parse(line) as Record<string, unknown>));
  }
  static start(args: LibraryChildArgs): Child {
    return new Child(spawn(globalThis.process.execPath, ['--import', 'tsx', childScript, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  }
  async event(name: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const find = (): Record<string, unknown> | undefined => this.events.find((e) => e.event === name);
    await waitFor(`child event ${name}`, () => find() !== undefined, timeoutMs);
    return find()!;
  }
}

describe('lockd as a library (embedded backend)', { timeout: 120_000 }, () => {
  let dir: string;
  let path: string;
  const open: Lockd[] = [];
  const children: Child[] = [];
  const lockd = async (cluster: string, ttl = '2s'): Promise<Lockd> => {
    const client = await connect({ cluster, backend: { type: 'embedded', path }, ttl });
    open.push(client);
    return client;
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lockd-library-'));
    path = join(dir, 'lockd.db');
  });
  after(async () => {
    for (const c of children) c.process.kill('SIGKILL');
    await Promise.allSettled(open.map((c) => c.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('withLock runs the callback with a bigint token, returns its value, and releases also when it throws', async () => {
    const a = await lockd('basics');
    const b = await lockd('basics');
    const first = await a.withLock('invoice-42', { wait: '5s' }, ({ token, signal }) => {
      assert.equal(typeof token, 'bigint');
      assert.equal(signal.aborted, false);
      return token;
    });
    await assert.rejects(a.withLock('invoice-42', {}, () => Promise.reject(new Error('boom'))), /boom/);
    const second = await b.withLock('invoice-42', { wait: 0 }, ({ token }) => token);
    assert.ok(second > first, `tokens ${first} then ${second}`);
  });

  it('acquireSeat / withSeat: at most N holders, tokens of their own, LockTimeoutError on a full set, apart from the lock', async () => {
    const [a, b, c] = await Promise.all([lockd('seats'), lockd('seats'), lockd('seats')]);
    const first = await a.acquireSeat('workers', 2, { wait: '5s' });
    const inside = await b.withSeat('workers', 2, { wait: 0 }, async (seat) => {
      assert.equal(typeof seat.token, 'bigint');
      assert.ok(seat.token > first.token);
      assert.equal(seat.isValid(), true);
      await assert.rejects(c.acquireSeat('workers', 2, { wait: 0 }), LockTimeoutError, 'both seats held: one try fails');
      const started = performance.now();
      await assert.rejects(c.acquireSeat('workers', 2, { wait: '300ms' }), LockTimeoutError);
      assert.ok(performance.now() - started >= 290);
      await assert.rejects(a.acquireSeat('workers', 2, { wait: 0 }), LockTimeoutError, 'this connection holds a seat of the set already');
      const lock = await c.acquire('workers', { wait: 0 });
      await lock.release();
      return seat.token;
    });
    await assert.rejects(b.withSeat('workers', 2, {}, () => Promise.reject(new Error('boom'))), /boom/);
    const waiting = c.acquireSeat('workers', 2, { wait: '5s' });
    const third = await waiting;
    assert.ok(third.token > inside, 'the released seats were free again');
    await first.release();
    await third.release();
    for (const bad of [0, 1.5, 1001]) await assert.rejects(a.acquireSeat('workers', bad), UsageError);
  });

  it('acquireSeat and withSeat reject a bad seat count with UsageError, holding nothing', async () => {
    const a = await lockd('bad-seats');
    for (const bad of [0, 1.5, 1001]) {
      await assert.rejects(a.acquireSeat('workers', bad), UsageError);
      await assert.rejects(a.withSeat('workers', bad, {}, () => 1), UsageError);
    }
    const seat = await a.acquireSeat('workers', 1, { wait: 0 });
    await seat.release();
  });

  it('concurrent acquireSeat calls of one connection each take a seat (no local turns, unlike locks)', async () => {
    const a = await lockd('several-seats');
    const [one, two] = await Promise.all([a.acquireSeat('workers', 2, { wait: '5s' }), a.acquireSeat('workers', 2, { wait: '5s' })]);
    assert.notEqual(one.token, two.token);
    await assert.rejects(a.acquireSeat('workers', 2, { wait: 0 }), LockTimeoutError, 'both seats are held');
    await one.release();
    await two.release();
  });

  it('a held lock makes a bounded wait reject with LockTimeoutError, holding nothing', async () => {
    const a = await lockd('timeout');
    const b = await lockd('timeout');
    const held = await a.acquire('x');
    const started = performance.now();
    await assert.rejects(b.acquire('x', { wait: '300ms' }), LockTimeoutError);
    assert.ok(performance.now() - started >= 290);
    await assert.rejects(b.acquire('x', { wait: 0 }), LockTimeoutError);
    await assert.rejects(a.acquire('x', { wait: 0 }), LockTimeoutError, 'held by this very process: one try fails at once');
    await assert.rejects(a.acquire('x', { wait: '200ms' }), LockTimeoutError);
    await held.release();
    const later = await b.acquire('x', { wait: 0 });
    await later.release();
  });

  it('concurrent callers of one name in one process take turns instead of failing', async () => {
    const a = await lockd('turns');
    const order: string[] = [];
    const task = (id: string): Promise<void> =>
      a.withLock('shared', { wait: '10s' }, async () => {
        order.push(`${id}+`);
        await new Promise<void>((resolve) => setImmediate(resolve));
        order.push(`${id}-`);
      });
    await Promise.all([task('1'), task('2'), task('3')]);
    assert.deepEqual(order, ['1+', '1-', '2+', '2-', '3+', '3-']);
  });

  it('options are checked by the schema of lockd.yaml, every problem listed', async () => {
    await assert.rejects(connect({ cluster: 'bad/name', backend: { type: 'etcd', endpoints: [] } }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 2, err.message);
      assert.match(err.message, /endpoints: \[\]/);
      return true;
    });
    // The types allow one of url and sentinel for Redis; the schema refuses both as well.
    const both = { type: 'redis', url: 'redis://127.0.0.1:6379', sentinel: { master: 'mymaster', nodes: ['127.0.0.1:26379'] } };
    await assert.rejects(connect({ cluster: 'c', backend: both as unknown as BackendOptions }), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /either url or sentinel/);
      return true;
    });
  });

  it('two processes taking {a,b} and {b,a} twenty times each never deadlock, and each lock is held by one at a time', async () => {
    const file = join(dir, 'multi.log');
    const one = Child.start({ mode: 'locks', path, cluster: 'multi', names: ['a', 'b'], file, rounds: 20 });
    const two = Child.start({ mode: 'locks', path, cluster: 'multi', names: ['b', 'a'], file, rounds: 20 });
    children.push(one, two);
    await Promise.all([one.event('done', 60_000), two.event('done', 60_000)]);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 40);
    const last = new Map<string, bigint>();
    for (const line of lines) {
      const [names = '', tokens = ''] = line.split(' ');
      assert.equal(names, 'a,b', 'locks are taken in sorted order');
      tokens.split(',').forEach((t, i) => {
        const name = names.split(',')[i]!;
        assert.ok(BigInt(t) > (last.get(name) ?? -1n), `tokens of ${name} increase in the order of the writes`);
        last.set(name, BigInt(t));
      });
    }
  });

  it('a holder SIGSTOPped past its TTL writes nothing after it resumes; another process got the lock meanwhile', async () => {
    const file = join(dir, 'hold.log');
    const holder = Child.start({ mode: 'hold', path, cluster: 'paused', names: ['job'], file, ttl: '2s' });
    children.push(holder);
    await holder.event('held', 20_000);
    await waitFor('a few writes by the holder', () => existsSync(file) && readFileSync(file, 'utf8').split('\n').length > 3, 5_000);
    holder.process.kill('SIGSTOP');
    const writesAtStop = readFileSync(file, 'utf8');
    const other = await lockd('paused', '2s');
    const started = performance.now();
    const taken = await other.acquire('job', { wait: '10s' });
    assert.ok(performance.now() - started < 2000 + 1500, 'the lock was free again within TTL + 1.5 s');
    holder.process.kill('SIGCONT');
    await holder.event('lost', 10_000);
    assert.equal(readFileSync(file, 'utf8'), writesAtStop, 'the holder wrote after it resumed');
    await taken.release();
  });
});
