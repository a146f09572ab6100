import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, afterEach, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import type { Backend, CandidateInfo } from '../../src/election/backend.js';
import { createEtcdBackend } from '../../src/election/etcd/etcd-backend.js';
import { LeadershipLostError, UsageError } from '../../src/errors.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { waitFor } from '../helpers/wait-for.js';

const run = promisify(execFile);
const ttlMs = 2000;
let server: EtcdServer;
const opened: Backend[] = [];
const children: Etcdctl[] = [];

/** A long-running etcdctl (elect / lock) whose stdout lines are awaited as they come. */
class Etcdctl {
  readonly child: ChildProcess;
  private readonly lines: Array<{ text: string; at: number }> = [];
  private readonly wakers: Array<() => void> = [];

  constructor(args: string[]) {
    this.child = spawn('/usr/bin/etcdctl', [`--endpoints=${server.endpoint}`, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (text) => {
      this.lines.push({ text, at: performance.now() });
      for (const wake of this.wakers.splice(0)) wake();
    });
    children.push(this);
  }

  /** Lines printed so far. */
  get printed(): ReadonlyArray<{ text: string; at: number }> {
    return this.lines;
  }

  /** Resolves with line `index` (0-based) once printed. */
  async line(index: number, timeoutMs = 10_000): Promise<{ text: string; at: number }> {
    const deadline = performance.now() + timeoutMs;
    while (this.lines.length <= index) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`etcdctl printed no line ${index} within ${timeoutMs} ms: ${JSON.stringify(this.lines)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.lines[index]!;
  }

  /** SIGINT: etcdctl resigns / unlocks and exits. */
  async interrupt(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGINT');
    await exited;
  }
}

async function etcdctl(...args: string[]): Promise<string> {
  const { stdout } = await run('/usr/bin/etcdctl', [`--endpoints=${server.endpoint}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
  return stdout;
}

/** Keys under `prefix` with their create_revision and lease id, oldest first, as etcd reports them. */
async function keysUnder(prefix: string): Promise<Array<{ key: string; createRevision: bigint; lease: bigint }>> {
  const raw = await etcdctl('get', '--prefix', `${prefix}/`, '-w', 'json', '--order=ASCEND', '--sort-by=CREATE');
  // Read the int64s from the text: JSON.parse would round lease ids above 2^53.
  return [...raw.matchAll(/"key":"([^"]+)","create_revision":(\d+),[^}]*?"lease":(\d+)/g)].map((m) => ({
    key: Buffer.from(m[1]!, 'base64').toString(),
    createRevision: BigInt(m[2]!),
    lease: BigInt(m[3]!),
  }));
}

async function open(cluster: string): Promise<Backend> {
  const backend = await createEtcdBackend({ type: 'etcd', endpoints: [server.endpoint] }, { cluster, ttlMs, logger: pino({ level: 'silent' }) });
  opened.push(backend);
  return backend;
}

function me(node: string): CandidateInfo {
  return { node, host: 'interop-host', pid: process.pid, since: '2024-01-01T00:00:00.000Z' };
}

function uniqueCluster(label: string): string {
  return `interop-${label}-${randomBytes(4).toString('hex')}`;
}

describe('etcd interop with etcdctl', { timeout: 120_000 }, () => {
  before(async () => {
    server = await startEtcd();
  });
  after(async () => {
    await server.stop();
  });
  afterEach(async () => {
    await Promise.allSettled(children.splice(0).map((c) => c.interrupt()));
    await Promise.allSettled(opened.splice(0).map((b) => b.close()));
  });

  it('etcdctl elect -l shows the lockd leader, and the next one after a handoff', async () => {
    const cluster = uniqueCluster('elect');
    const prefix = `lockd/${cluster}/leader`;
    const [a, b] = [await open(cluster), await open(cluster)];
    const leaseA = await a.campaign(me('A'));
    const pendingB = b.campaign(me('B'), { signal: AbortSignal.timeout(10_000) });
    await waitFor('B queued', async () => (await keysUnder(prefix)).length === 2);
    const [keyA, keyB] = await keysUnder(prefix);
    assert.equal(keyA!.createRevision, leaseA.token, 'the token is the create_revision of the leader key');
    assert.equal(keyA!.key, `${prefix}/${keyA!.lease.toString(16)}`, 'key = <prefix>/<lease id in lowercase hex>');

    const observer = new Etcdctl(['elect', '-l', prefix]);
    assert.equal((await observer.line(0)).text, keyA!.key);
    assert.deepEqual(JSON.parse((await observer.line(1)).text), me('A'));

    await leaseA.release();
    const leaseB = await pendingB;
    assert.equal(leaseB.token, keyB!.createRevision);
    assert.equal((await observer.line(2)).text, keyB!.key);
    assert.deepEqual(JSON.parse((await observer.line(3)).text), me('B'));
  });

  it('a foreign etcdctl elect candidate leads first; observe shows its raw value; lockd follows it', async () => {
    const cluster = uniqueCluster('foreign');
    const prefix = `lockd/${cluster}/leader`;
    const foreign = new Etcdctl(['elect', prefix, 'not-json']);
    await foreign.line(0);
    const a = await open(cluster);
    const pending = a.campaign(me('A'), { signal: AbortSignal.timeout(10_000) });
    await waitFor('lockd queued', async () => (await keysUnder(prefix)).length === 2);
    const view = await a.observe();
    assert.equal(view.leader?.node, 'not-json');
    assert.equal(view.leader?.token, (await keysUnder(prefix))[0]!.createRevision);
    assert.deepEqual(view.candidates.map((c) => c.node), ['not-json', 'A']);
    await foreign.interrupt();
    const lease = await pending;
    assert.equal((await a.observe()).leader?.node, 'A');
    assert.equal(lease.isValid(), true);
  });

  it('etcdctl lock excludes lockd, and lockd excludes etcdctl lock', async () => {
    const cluster = uniqueCluster('lock');
    const prefix = `lockd/${cluster}/lock/job`;
    const a = await open(cluster);
    const holder = new Etcdctl(['lock', prefix]);
    const foreignKey = (await holder.line(0)).text;
    assert.match(foreignKey, new RegExp(`^${prefix}/[0-9a-f]+$`));
    assert.equal(await a.tryAcquire('job'), null, 'etcdctl holds the lock');
    const pending = a.acquire('job', { signal: AbortSignal.timeout(10_000) });
    await waitFor('lockd queued', async () => (await keysUnder(prefix)).length === 2);
    const [foreign, queued] = await keysUnder(prefix);
    assert.equal(foreign!.key, foreignKey);
    await holder.interrupt();
    const lease = await pending;
    assert.equal(lease.token, queued!.createRevision, 'lockd keeps its place: its token is its key\'s create_revision');
    assert.ok(lease.token > foreign!.createRevision);

    const waiter = new Etcdctl(['lock', prefix]);
    await waitFor('etcdctl queued', async () => (await keysUnder(prefix)).length === 2);
    const releasedAt = performance.now();
    await lease.release();
    const granted = await waiter.line(0);
    assert.ok(granted.at >= releasedAt, 'etcdctl lock must not print its key while lockd holds the lock');
    assert.equal(granted.text, (await keysUnder(prefix))[0]!.key);
  });

  it('seat keys are seat/<name>/<lease hex>_<n> holding the seat count; etcdctl sees holders and waiters by create_revision', async () => {
    const cluster = uniqueCluster('seats');
    const prefix = `lockd/${cluster}/seat/pool`;
    const [a, b, c] = [await open(cluster), await open(cluster), await open(cluster)];
    const first = await a.acquireSeat('pool', 2, { info: me('A') });
    const second = await b.acquireSeat('pool', 2);
    const pending = c.acquireSeat('pool', 2, { signal: AbortSignal.timeout(10_000) });
    await waitFor('the waiter queued', async () => (await keysUnder(prefix)).length === 3);
    const keys = await keysUnder(prefix);
    for (const k of keys) assert.match(k.key, new RegExp(`^${prefix}/[0-9a-f]+_[0-9]+$`));
    assert.deepEqual(keys.slice(0, 2).map((k) => k.createRevision), [first.token, second.token], 'each holder\'s token is its key\'s create_revision');
    const value = async (key: string): Promise<unknown> => JSON.parse(await etcdctl('get', key, '--print-value-only')) as unknown;
    assert.deepEqual(await value(keys[0]!.key), { ...me('A'), seats: 2 });
    assert.deepEqual(await value(keys[1]!.key), { seats: 2 });
    assert.deepEqual(await keysUnder(`lockd/${cluster}/lock/pool`), [], 'a seat set keeps out of the lock namespace');
    assert.deepEqual(await a.list(''), [], 'seat keys are not data keys');
    await assert.rejects(a.put('seat/pool/x', 'v'), UsageError);
    await first.release();
    assert.equal((await pending).token, keys[2]!.createRevision, 'the waiter keeps its place: its token is its key\'s create_revision');
  });

  it('a guard whose key was deleted behind lockd is refused by the txn compare, and nothing is written', async () => {
    const cluster = uniqueCluster('guard');
    const a = await open(cluster);
    const leader = await a.campaign(me('A'));
    const lock = await a.acquire('job');
    assert.equal(lock.isValid(), true);
    await etcdctl('del', '--prefix', `lockd/${cluster}/lock/job/`);
    await assert.rejects(a.guardedPut([leader, lock], 'runs/job/1', 'x'), LeadershipLostError);
    assert.equal(await a.get('runs/job/1'), undefined);
    assert.equal(lock.signal.aborted, true, 'the lost guard is aborted');
    assert.ok(lock.signal.reason instanceof LeadershipLostError);
    assert.equal(leader.isValid(), true, 'the other guard is untouched');
    assert.equal(await a.guardedPut(leader, 'runs/job/1', 'y', { ifAbsent: true }), true);
    const again = await a.tryAcquire('job');
    assert.ok(again, 'a lost lock may be taken again');
  });

  it('etcd restarted while holding: the backend recovers and a new campaign succeeds', async () => {
    const cluster = uniqueCluster('restart');
    const a = await open(cluster);
    const first = await a.campaign(me('A'));
    await server.restart();
    // A quick restart may keep the session alive; either way the next term must work.
    await first.release();
    const second = await a.campaign(me('A'), { signal: AbortSignal.timeout(15_000) });
    assert.ok(second.token > first.token);
    assert.equal(await a.guardedPut(second, 'jobs/x', 'ok'), true);
    assert.equal(a.health().up, true);
  });

  it('etcd down longer than the TTL: the lease aborts by its deadline; after restart a new campaign wins promptly', async () => {
    const cluster = uniqueCluster('outage');
    const a = await open(cluster);
    const first = await a.campaign(me('A'));
    server.kill9();
    const killedAt = performance.now();
    await new Promise<void>((resolve) => first.signal.addEventListener('abort', () => resolve(), { once: true }));
    assert.ok(performance.now() - killedAt <= ttlMs, 'self-fencing within the TTL');
    assert.equal(a.health().up, false);
    await server.restart();
    const restartedAt = performance.now();
    const second = await a.campaign(me('A'), { signal: AbortSignal.timeout(15_000) });
    // The lost lease was revoked once etcd was back, not left to expire a full TTL later.
    assert.ok(performance.now() - restartedAt < ttlMs, 'the old key must not hold the election for a TTL');
    assert.ok(second.token > first.token);
    assert.equal(a.health().up, true);
  });
});
