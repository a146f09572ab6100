import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { ZkClient } from '../../src/election/zookeeper/zk-client.js';
import type { ZkConnectionEvent, ZkStat } from '../../src/election/zookeeper/zk-types.js';
import { ZkSession } from '../../src/election/zookeeper/zk-session.js';
import { BackendUnavailableError, LeadershipLostError } from '../../src/errors.js';
import { FakeClock } from '../helpers/fake-clock.js';

// Margin and loss grace 800 ms each: vouched until last ack sent + 2400 ms, kill deadline + 3200 ms,
// a heartbeat every 800 ms (a third of the vouched time).
const TIMEOUT = 4000;
const OURS = 0x100n;

/**
 * The part of ZkClient a session uses, against a pretend server: while `answering` is false,
 * calls get no reply (they time out on the fake clock, as the real client's deadlines do) and
 * `thaw()` delivers the late replies, which still count as acknowledgements.
 */
class FakeServerClient {
  readonly negotiatedTimeoutMs = TIMEOUT;
  readonly sessionId = OURS;
  lastAckSentAt: number;
  /** Set by the session, called when `lastAckSentAt` moves, as ZkClient does. */
  onAck: (() => void) | undefined;
  answering = true;
  /** While not `answering`: reads are still served (a follower cut off from the quorum). */
  followerReads = false;
  /** Deletes fail at once, as on a connection loss. */
  failRemoves = false;
  closed = false;
  /** Node path -> ephemeralOwner. */
  readonly nodes = new Map<string, bigint>();
  private readonly late: Array<() => void> = [];
  private listener: (event: ZkConnectionEvent) => void = () => {};

  constructor(private readonly clock: FakeClock) {
    this.lastAckSentAt = clock.monotonic();
  }

  onConnection(listener: (event: ZkConnectionEvent) => void): () => void {
    this.listener = listener;
    return () => {};
  }

  emit(event: ZkConnectionEvent): void {
    this.listener(event);
  }

  /** A local read: like the real client, its reply proves nothing about the session. */
  exists(path: string, opts: { timeoutMs?: number } = {}): Promise<ZkStat | null> {
    return this.call(opts.timeoutMs, false, () => {
      const owner = this.nodes.get(path);
      return owner === undefined ? null : { czxid: 1n, ephemeralOwner: owner, version: 0, numChildren: 0, ctimeMs: 0 };
    });
  }

  /** The heartbeat's transaction: answered by the ensemble leader, so its reply is an ack. */
  multi(_ops: unknown[], opts: { timeoutMs?: number } = {}): Promise<{ ok: true }> {
    return this.call(opts.timeoutMs, true, () => ({ ok: true }));
  }

  remove(path: string): Promise<'removed' | 'absent'> {
    if (this.failRemoves) return Promise.reject(new BackendUnavailableError('connection loss'));
    return this.call(undefined, true, () => (this.nodes.delete(path) ? 'removed' : 'absent'));
  }

  thaw(): void {
    this.answering = true;
    for (const reply of this.late.splice(0)) reply();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private call<T>(timeoutMs = 1000, quorum: boolean, answer: () => T): Promise<T> {
    const sentAt = this.clock.monotonic();
    return new Promise((resolve, reject) => {
      const reply = (): void => {
        if (quorum && sentAt > this.lastAckSentAt) {
          this.lastAckSentAt = sentAt;
          this.onAck?.();
        }
        resolve(answer());
      };
      if (this.answering || (!quorum && this.followerReads)) return reply();
      this.late.push(reply);
      this.clock.setTimer(timeoutMs, () => reject(new BackendUnavailableError('no reply')));
    });
  }
}

/** What the session told its `SessionWatch`. */
interface WatchLog {
  renewed: number[];
  lost: number[];
}

function setup(): { clock: FakeClock; server: FakeServerClient; session: ZkSession; lost: LeadershipLostError[]; watch: WatchLog } {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const server = new FakeServerClient(clock);
  const watch: WatchLog = { renewed: [], lost: [] };
  const sessionWatch = {
    renewed: (_id: string, killBy: number) => void watch.renewed.push(killBy),
    lost: (_id: string, killBy: number) => {
      watch.lost.push(killBy);
      return Promise.resolve();
    },
  };
  const session = new ZkSession(server as unknown as ZkClient, clock, pino({ level: 'silent' }), '/lockd/c', sessionWatch);
  const lost: LeadershipLostError[] = [];
  server.nodes.set('/lockd/c/leader/n1', OURS);
  session.own({ path: '/lockd/c/leader/n1', lost: (reason) => lost.push(reason) });
  return { clock, server, session, lost, watch };
}

describe('zookeeper session liveness (fake server, fake clock)', () => {
  it('answered heartbeats every third of the vouched time keep the session usable and move the kill deadline', async () => {
    const { clock, session, lost, watch } = setup();
    let minRemaining = Infinity;
    await clock.advance(20_000, () => {
      assert.equal(session.canAct(), true);
      minRemaining = Math.min(minRemaining, session.remainingMs());
    });
    assert.equal(session.state, 'connected');
    assert.ok(minRemaining >= TIMEOUT - 800 - 800 - 800, `remaining fell to ${minRemaining} ms`);
    assert.deepEqual(lost, []);
    assert.ok(watch.renewed.length >= 20, 'every answered heartbeat moves the kill deadline');
    assert.equal(watch.renewed.at(-1), session.deadline());
    assert.deepEqual(watch.lost, []);
  });

  it('a silent server: suspended at the first missed heartbeat, lost once the vouched time passes, killBy = last ack + timeout - margin', async () => {
    const { clock, server, session, lost, watch } = setup();
    server.answering = false;
    const start = clock.monotonic();
    let suspendedAt: number | undefined;
    let lostAt: number | undefined;
    session.subscribe((state) => {
      if (state === 'suspended') suspendedAt ??= clock.monotonic() - start;
      if (state === 'lost') lostAt ??= clock.monotonic() - start;
    });
    await clock.advance(2399);
    assert.equal(suspendedAt, 1600, 'the heartbeat sent at 800 ms times out at 1600 ms');
    assert.equal(session.canAct(), false);
    assert.equal(lost.length, 0, 'suspension alone aborts nothing');
    await clock.advance(1);
    assert.equal(lostAt, 2400);
    assert.equal(lost.length, 1);
    assert.match(lost[0]?.message ?? '', /zookeeper session lost: no reply from the zookeeper ensemble leader for 2400ms/);
    assert.equal(lost[0]?.killBy, start + 3200, 'the kill deadline is a margin before the server may expire the session');
    assert.deepEqual(watch.lost, [start + 3200]);
    assert.equal(server.closed, true, 'a lost session closes its client once the watch reports its runs gone');
  });

  it('reads served by a follower cut off from the quorum do not keep the session alive', async () => {
    const { clock, server, session, lost } = setup();
    server.answering = false;
    server.followerReads = true;
    const start = clock.monotonic();
    let reads = 0;
    const poll = (): void => void server.exists('/lockd/c/leader/n1').then(() => (reads += 1));
    await clock.advance(1600, poll);
    assert.equal(session.state, 'suspended', 'the heartbeat needs the ensemble leader, so it went unanswered');
    assert.equal(session.canAct(), false);
    await clock.advance(799, poll);
    assert.ok(reads > 0, 'the follower answered reads');
    assert.equal(lost.length, 0);
    await clock.advance(1);
    assert.equal(clock.monotonic() - start, 2400);
    assert.equal(lost.length, 1, 'lost at last quorum ack + vouched time, whatever the reads');
    assert.equal(session.state, 'lost');
  });

  it('late replies count as acks: after a short freeze the session resumes, with ownership re-checked', async () => {
    const { clock, server, session, lost } = setup();
    server.answering = false;
    await clock.advance(1600);
    assert.equal(session.state, 'suspended');
    server.thaw();
    // The late reply to the heartbeat sent at 800 ms moved the vouched time past 2400 ms.
    assert.ok(session.remainingMs() > 0);
    await clock.advance(800);
    assert.equal(session.state, 'connected', 'the next heartbeat is answered and the re-check passes');
    assert.equal(session.canAct(), true);
    await clock.advance(10_000);
    assert.deepEqual(lost, []);
  });

  it('after a reconnect a node now owned by another session loses its lease; the rest resume', async () => {
    const { clock, server, session, lost } = setup();
    const lost2: LeadershipLostError[] = [];
    server.nodes.set('/lockd/c/locks/j/n2', 0x999n);
    session.own({ path: '/lockd/c/locks/j/n2', lost: (reason) => lost2.push(reason) });
    server.emit('disconnected');
    assert.equal(session.state, 'suspended');
    assert.equal(session.canAct(), false);
    server.emit('connected');
    await clock.advance(0);
    assert.equal(session.state, 'connected');
    assert.deepEqual(lost, []);
    assert.equal(lost2.length, 1);
    assert.match(lost2[0]!.message, /belongs to another session/);
  });

  it('a disconnect during the ownership re-check keeps the session suspended', async () => {
    const { clock, server, session } = setup();
    server.emit('disconnected');
    server.answering = false;
    server.emit('connected');
    await clock.advance(0);
    server.emit('disconnected');
    server.thaw();
    await clock.advance(0);
    assert.equal(session.state, 'suspended', 'the re-check proved ownership before the second disconnect only');
    server.emit('connected');
    await clock.advance(0);
    assert.equal(session.state, 'connected');
  });

  it('an expired session is lost at once, with killBy now; discard() of a node is retried after the next answered heartbeat', async () => {
    const { clock, server, session, lost, watch } = setup();
    server.nodes.set('/lockd/c/locks/j/orphan', OURS);
    server.failRemoves = true;
    await session.discard({ path: '/lockd/c/locks/j/orphan' });
    assert.equal(server.nodes.has('/lockd/c/locks/j/orphan'), true, 'the first attempt failed');
    server.failRemoves = false;
    await clock.advance(1000);
    assert.equal(server.nodes.has('/lockd/c/locks/j/orphan'), false, 'retried after an answered heartbeat');

    server.emit('expired');
    assert.equal(session.state, 'lost');
    assert.equal(lost.length, 1);
    assert.equal(lost[0]?.killBy, clock.monotonic(), 'the server expired it: another holder may exist, so runs die now');
    assert.deepEqual(watch.lost, [clock.monotonic()]);
    await assert.rejects(session.waitUntilConnected(), BackendUnavailableError);
  });
});
