import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { EtcdLeaseInvalidError, EtcdPermissionDeniedError, GRPCUnavailableError } from 'etcd3';
import { classifyFailure } from '../../src/election/etcd/etcd-errors.js';
import { callWithFailover } from '../../src/election/etcd/etcd-failover.js';
import { raceKeepAlive } from '../../src/election/etcd/etcd-keep-alive.js';
import { EtcdMembers, type EtcdMember } from '../../src/election/etcd/etcd-members.js';
import { BackendUnavailableError, LeadershipLostError } from '../../src/errors.js';

/** A grpc-js error as it comes off a stream: a plain Error with a status code. */
function grpcError(code: number, message: string): Error {
  return Object.assign(new Error(`${code} ${message}`), { code });
}
const refused = (): Error => grpcError(14, 'UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1');
const deadline = (): Error => grpcError(4, 'DEADLINE_EXCEEDED: Deadline exceeded after 0.300s');

const opened: EtcdMembers[] = [];
/** Members on three unused endpoints; their clients connect only if a test lets them. */
function threeMembers(): EtcdMembers {
  const members = new EtcdMembers({ type: 'etcd', endpoints: ['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3'] }, 200);
  opened.push(members);
  return members;
}
afterEach(() => opened.splice(0).forEach((m) => m.close()));

describe('etcd failure classification', () => {
  it('tells requests that were never applied from those whose outcome is unknown, and from final answers', () => {
    assert.equal(classifyFailure(refused()), 'unsent');
    assert.equal(classifyFailure(new GRPCUnavailableError('14 UNAVAILABLE: Channel closed before call started')), 'unsent');
    assert.equal(classifyFailure(grpcError(14, 'UNAVAILABLE: etcdserver: no leader')), 'unsent');
    assert.equal(classifyFailure(grpcError(2, 'UNKNOWN: raft proposal dropped')), 'unsent');
    assert.equal(classifyFailure(deadline()), 'ambiguous');
    assert.equal(classifyFailure(grpcError(14, 'UNAVAILABLE: etcdserver: request timed out')), 'ambiguous');
    assert.equal(classifyFailure(grpcError(14, 'UNAVAILABLE: Connection dropped')), 'ambiguous');
    assert.equal(classifyFailure(new EtcdLeaseInvalidError('7587')), 'final');
    assert.equal(classifyFailure(new EtcdPermissionDeniedError('etcdserver: permission denied')), 'final');
    assert.equal(classifyFailure(grpcError(3, 'INVALID_ARGUMENT: etcdserver: request is too large')), 'final');
  });
});

describe('etcd unary calls fail over between members', () => {
  const timing = { budgetMs: 450, attemptMs: 150 };

  it('a refused member is skipped at once, and the member that answered is tried first from then on', async () => {
    const members = threeMembers();
    const [first, second] = members.ordered() as [EtcdMember, EtcdMember, EtcdMember];
    const tried: string[] = [];
    const answer = await callWithFailover(members, timing, 'get', () => false, async (m) => {
      tried.push(m.endpoint);
      if (m === first) throw refused();
      return 'value';
    });
    assert.deepEqual(answer, { value: 'value', replayed: false });
    assert.deepEqual(tried, [first.endpoint, second.endpoint]);
    assert.equal(members.ordered()[0], second);
  });

  it('after a deadline on one member the call is sent to the next and marked replayed', async () => {
    const members = threeMembers();
    const first = members.ordered()[0];
    const answer = await callWithFailover(members, timing, 'txn', () => false, async (m) => {
      if (m === first) throw deadline();
      return 'ok';
    });
    assert.deepEqual(answer, { value: 'ok', replayed: true });
  });

  it('a final answer is not retried', async () => {
    const members = threeMembers();
    let attempts = 0;
    await assert.rejects(
      callWithFailover(members, timing, 'keep', () => false, async () => {
        attempts++;
        throw new EtcdLeaseInvalidError('7587');
      }),
      LeadershipLostError,
    );
    assert.equal(attempts, 1);
  });

  it('when every member refuses, it gives up after the budget with BackendUnavailableError, pausing between rounds', async () => {
    const members = threeMembers();
    let attempts = 0;
    const started = performance.now();
    const err = await callWithFailover(members, timing, 'put', () => false, async (_m, options) => {
      void options.deadline;
      attempts++;
      throw refused();
    }).catch((e: unknown) => e);
    const tookMs = performance.now() - started;
    assert.ok(err instanceof BackendUnavailableError, String(err));
    assert.doesNotMatch(err.message, /may have been applied/);
    assert.ok(tookMs >= timing.budgetMs - 20 && tookMs < timing.budgetMs + 300, `gave up after ${tookMs.toFixed(0)} ms`);
    // A pause of attemptMs/3 after each round of three: about 9 rounds, not a busy loop.
    assert.ok(attempts <= 3 * (timing.budgetMs / (timing.attemptMs / 3) + 2), `${attempts} attempts`);
  });

  it('each attempt gets at most attemptMs, and the budget starts when the request is sent, not when it is issued', async () => {
    const members = threeMembers();
    const remaining: number[] = [];
    const call = callWithFailover(members, timing, 'get', () => false, async (_m, options) => {
      // etcd3 awaits the auth metadata before grpc reads the deadline: after the stretch below.
      await Promise.resolve();
      remaining.push(options.deadline - Date.now());
      if (remaining.length < 4) throw deadline();
      return 'ok';
    });
    // A synchronous stretch longer than the whole budget between issuing and sending.
    const busyUntil = performance.now() + timing.budgetMs + 100;
    while (performance.now() < busyUntil);
    await call;
    assert.ok(remaining[0]! > timing.attemptMs - 20 && remaining[0]! <= timing.attemptMs, `first attempt got ${remaining[0]} ms`);
  });

  it('a closed client stops the loop', async () => {
    const members = threeMembers();
    let closed = false;
    await assert.rejects(
      callWithFailover(members, timing, 'get', () => closed, async () => {
        closed = true;
        throw grpcError(1, 'CANCELLED: Cancelled on client');
      }),
      BackendUnavailableError,
    );
  });
});

/** How a fake member handles one keep-alive written at `sentAt` (performance.now()). */
type Behaviour = (sentAt: number) => 'answer' | 'refuse' | 'hold' | 'gone';

/**
 * Mocks each member's etcd3 client so a keep-alive stream behaves as `behaviours[i]` says; a held
 * stream fails with DEADLINE_EXCEEDED at the deadline grpc was given. Returns the send log.
 */
function fakeKeepAlives(members: EtcdMembers, behaviours: Behaviour[]): Array<{ member: number; at: number }> {
  const sends: Array<{ member: number; at: number }> = [];
  members.ordered().forEach((member, i) => {
    member.client.mock({
      withConnection: async (_service: unknown, fn: (args: never) => unknown) =>
        fn({
          resource: {},
          metadata: {},
          client: {
            leaseKeepAlive: (_metadata: unknown, options: { deadline: number }) => {
              const stream = Object.assign(new EventEmitter(), {
                writable: false,
                end: () => undefined,
                write: () => {
                  const at = performance.now();
                  sends.push({ member: i, at });
                  const what = behaviours[i]!(at);
                  const timeoutMs = options.deadline - Date.now();
                  if (what === 'answer') setTimeout(() => stream.emit('data', { TTL: '3' }), 2);
                  if (what === 'gone') setTimeout(() => stream.emit('data', { TTL: '0' }), 2);
                  if (what === 'refuse') setImmediate(() => stream.emit('error', refused()));
                  if (what === 'hold') setTimeout(() => stream.emit('error', deadline()), timeoutMs);
                },
              });
              return stream;
            },
          },
        } as never),
    } as never);
  });
  return sends;
}

describe('etcd keep-alives race across members', () => {
  const timing = { budgetMs: 800, attemptMs: 200 };
  const notClosed = (): boolean => false;

  it('a frozen preferred member does not delay the answer of the next one', async () => {
    const members = threeMembers();
    const [first, second] = members.ordered() as [EtcdMember, EtcdMember, EtcdMember];
    fakeKeepAlives(members, [() => 'hold', () => 'answer', () => 'answer']);
    const started = performance.now();
    const res = await raceKeepAlive(members, '7587', timing, notClosed);
    assert.equal(res.TTL, '3');
    assert.ok(performance.now() - started < 100, `answered after ${(performance.now() - started).toFixed(0)} ms`);
    assert.equal(members.ordered()[0], second);
    assert.notEqual(members.ordered()[0], first);
  });

  it('a refused member is replaced by the next at once', async () => {
    const members = threeMembers();
    const sends = fakeKeepAlives(members, [() => 'refuse', () => 'hold', () => 'answer']);
    const started = performance.now();
    await raceKeepAlive(members, '7587', timing, notClosed);
    assert.ok(performance.now() - started < 100, `answered after ${(performance.now() - started).toFixed(0)} ms`);
    assert.deepEqual(sends.map((s) => s.member), [0, 1, 2]);
  });

  it('while every member holds keep-alives (a frozen raft leader), a copy sent after the election is answered', async () => {
    const members = threeMembers();
    const started = performance.now();
    const electedAt = started + 450;
    const afterElection: Behaviour = (sentAt) => (sentAt >= electedAt ? 'answer' : 'hold');
    fakeKeepAlives(members, [afterElection, afterElection, afterElection]);
    await raceKeepAlive(members, '7587', timing, notClosed);
    const answeredAfterMs = performance.now() - electedAt;
    assert.ok(answeredAfterMs >= 0 && answeredAfterMs < timing.attemptMs / 2 + 100, `answered ${answeredAfterMs.toFixed(0)} ms after the election`);
  });

  it('a lease etcd no longer knows is LeadershipLostError', async () => {
    const members = threeMembers();
    fakeKeepAlives(members, [() => 'gone', () => 'hold', () => 'hold']);
    await assert.rejects(raceKeepAlive(members, '7587', timing, notClosed), LeadershipLostError);
  });

  it('with no member answering it gives up after the budget, sending at the hedging pace', async () => {
    const members = threeMembers();
    const sends = fakeKeepAlives(members, [() => 'refuse', () => 'refuse', () => 'hold']);
    const started = performance.now();
    await assert.rejects(raceKeepAlive(members, '7587', timing, notClosed), BackendUnavailableError);
    const tookMs = performance.now() - started;
    assert.ok(tookMs >= timing.budgetMs - 20 && tookMs < timing.budgetMs + 300, `gave up after ${tookMs.toFixed(0)} ms`);
    assert.ok(sends.length <= 3 + timing.budgetMs / (timing.attemptMs / 2) + 1, `${sends.length} copies sent`);
  });
});
