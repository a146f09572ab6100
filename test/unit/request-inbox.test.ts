import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { Lease } from '../../src/election/backend.js';
import { askLeader } from '../../src/cli/request-reply.js';
import { RequestInbox } from '../../src/request-inbox.js';
import {
  ANSWER_TTL_MS,
  lastManualKey,
  requestDoneKey,
  requestsPrefix,
  resignRequestKey,
  triggerRequestKey,
  type RequestAnswer,
} from '../../src/requests.js';
import { FakeBackend, FakeStore } from '../helpers/fake-backend.js';
import { FakeClock } from '../helpers/fake-clock.js';

const T0 = Date.parse('2026-05-04T10:00:00.000Z');
const logger = pino({ level: 'silent' });

/** What every leader's handlers did, in order, across leaders. */
interface Log {
  runs: string[];
  resigns: string[];
}

interface Leader {
  node: string;
  backend: FakeBackend;
  lease: Lease;
  inbox: RequestInbox;
}

/**
 * A replica that leads once `campaign` resolves. Its trigger handler acts like the scheduler's: it
 * refuses (null) once the lease is not valid, else "runs" the job as `<job>:<wall ms>`. Its
 * backend forbids the unguarded `put`, which the inbox must never use.
 */
async function leader(store: FakeStore, clock: FakeClock, node: string, log: Log, hooks?: (b: FakeBackend) => void): Promise<Leader> {
  const backend = new FakeBackend({ store });
  hooks?.(backend);
  const lease = await backend.campaign({ node, host: 'h', pid: 1, since: new Date(T0).toISOString() });
  const inbox = new RequestInbox({
    backend,
    leader: lease,
    logger,
    node,
    clock,
    handlers: {
      trigger: async (job) => {
        if (!lease.isValid()) return null;
        const runId = `${job}:${clock.now()}`;
        log.runs.push(`${node} ${runId}`);
        return runId;
      },
      resign: () => void log.resigns.push(node),
    },
  });
  return { node, backend, lease, inbox };
}

/** Starts the inbox and resolves once its first drain (with anything it went round for) ended. */
async function serve(l: Leader): Promise<void> {
  l.inbox.start();
  await l.inbox.drain();
}

/** The leader loses its lease at the server the first time `test(key, value)` holds for a write; the daemon then stops its inbox. */
function loseLeadershipAt(test: (key: string, value: string) => boolean): (b: FakeBackend) => void {
  return (b) => {
    const hook = (args: unknown[]): void => {
      const held = b.store.holder('leader');
      if (held?.sessionId === b.sessionId && test(String(args[1]), String(args[2]))) b.expire(held);
    };
    b.before('guardedPut', hook);
  };
}

function request(store: FakeStore, job: string, id: string, clock: FakeClock): void {
  store.kv.set(triggerRequestKey(job, id), JSON.stringify({ id, at: new Date(clock.now()).toISOString() }));
}

const answerOf = (b: FakeBackend, id: string): RequestAnswer | undefined => b.json<RequestAnswer>(requestDoneKey(id));
const requestKeys = (store: FakeStore): string[] => store.kv.keysWithPrefix(requestsPrefix).filter((k) => !k.startsWith(requestDoneKey('')));

describe('request inbox across leader changes', () => {
  it('a trigger whose leader stops before serving it is served once, and answered, by the next leader', async () => {
    const store = new FakeStore();
    const clock = new FakeClock(T0);
    const log: Log = { runs: [], resigns: [] };
    const a = await leader(store, clock, 'a', log, (b) => {
      // Leadership moves at a's first write of any kind, before it has served anything.
      let first = true;
      const lose = (): void => {
        const held = b.store.holder('leader');
        if (first && held) b.expire(held);
        first = false;
      };
      b.before('guardedPut', lose);
      b.before('delete', lose);
    });
    const bReady = leader(store, clock, 'b', log);
    request(store, 'backup', 'r1', clock);
    await serve(a);
    a.inbox.stop();
    const b = await bReady;
    await serve(b);

    assert.deepEqual(log.runs, [`b backup:${T0}`], 'run once, by the new leader');
    const answer = answerOf(b.backend, 'r1');
    assert.equal(answer?.ok, true, JSON.stringify(answer));
    assert.equal(answer?.runId, `backup:${T0}`);
    assert.deepEqual(requestKeys(store), [], 'the request is deleted once answered');
    await b.inbox.drain();
    assert.equal(log.runs.length, 1, 'a later drain does not run it again');
  });

  for (const [what, at, expected] of [
    ['after running it, before recording the run', (key: string) => key === lastManualKey('backup'), 'uncertain'],
    ['after recording the run, before answering', (key: string, value: string) => key === requestDoneKey('r1') && value.includes('"answered"'), 'answered'],
  ] as const) {
    it(`a trigger whose leader stops ${what} is answered by the next leader and not run again`, async () => {
      const store = new FakeStore();
      const clock = new FakeClock(T0);
      const log: Log = { runs: [], resigns: [] };
      const a = await leader(store, clock, 'a', log, loseLeadershipAt(at));
      const bReady = leader(store, clock, 'b', log);
      request(store, 'backup', 'r1', clock);
      await serve(a);
      a.inbox.stop();
      assert.deepEqual(log.runs, [`a backup:${T0}`]);
      const b = await bReady;
      await serve(b);

      assert.deepEqual(log.runs, [`a backup:${T0}`], 'not run again');
      const answer = answerOf(b.backend, 'r1');
      if (expected === 'uncertain') {
        assert.equal(answer?.ok, false);
        assert.equal(answer?.uncertain, true);
        assert.match(answer?.message ?? '', /taken by a .*may have run/);
      } else {
        assert.deepEqual([answer?.ok, answer?.runId, answer?.node], [true, `backup:${T0}`, 'a']);
      }
      assert.deepEqual(requestKeys(store), []);
    });
  }

  for (const kind of ['trigger', 'resign'] as const) {
    it(`a ${kind} answered by a leader that crashed before deleting it is deleted, not served again`, async () => {
      const store = new FakeStore();
      const clock = new FakeClock(T0);
      const log: Log = { runs: [], resigns: [] };
      const a = await leader(store, clock, 'a', log, (b) => {
        b.before('delete', () => {
          throw new Error('crashed');
        });
      });
      const bReady = leader(store, clock, 'b', log);
      if (kind === 'trigger') request(store, 'backup', 'r1', clock);
      else store.kv.set(resignRequestKey('r1'), '{}');
      await serve(a);
      a.inbox.stop();
      assert.equal(answerOf(a.backend, 'r1')?.ok, true);
      a.backend.expire(a.lease);
      const b = await bReady;
      await serve(b);

      assert.deepEqual(log.runs, kind === 'trigger' ? [`a backup:${T0}`] : []);
      assert.deepEqual(log.resigns, [], 'a crashed before resigning; b does not resign for an answered request');
      assert.deepEqual(requestKeys(store), []);
    });
  }

  it('two triggers within 5 s served by different leaders run once; one 5 s after the run runs again', async () => {
    const store = new FakeStore();
    const clock = new FakeClock(T0);
    const log: Log = { runs: [], resigns: [] };
    const a = await leader(store, clock, 'a', log);
    const bReady = leader(store, clock, 'b', log);
    request(store, 'backup', 'r1', clock);
    await serve(a);
    a.inbox.stop();
    await a.lease.release();
    const b = await bReady;

    clock.stepWall(4_000);
    request(store, 'backup', 'r2', clock);
    await serve(b);
    assert.deepEqual(log.runs, [`a backup:${T0}`], 'coalesced with the run a started');
    assert.deepEqual([answerOf(b.backend, 'r2')?.ok, answerOf(b.backend, 'r2')?.runId], [true, `backup:${T0}`]);

    clock.stepWall(1_000);
    request(store, 'backup', 'r3', clock);
    await b.inbox.drain();
    assert.deepEqual(log.runs, [`a backup:${T0}`, `b backup:${T0 + 5_000}`]);
    assert.equal(answerOf(b.backend, 'r3')?.runId, `backup:${T0 + 5_000}`);
  });
});

describe('request inbox housekeeping', () => {
  it('deletes answers older than the bound, and of unknown age, whose request is gone', async () => {
    const store = new FakeStore();
    const clock = new FakeClock(T0);
    const at = (ms: number): string => new Date(T0 - ms).toISOString();
    store.kv.set(requestDoneKey('old'), JSON.stringify({ state: 'answered', ok: true, node: 'x', at: at(ANSWER_TTL_MS + 1) }));
    store.kv.set(requestDoneKey('recent'), JSON.stringify({ state: 'answered', ok: true, node: 'x', at: at(ANSWER_TTL_MS - 1) }));
    store.kv.set(requestDoneKey('legacy'), JSON.stringify({ ok: true, node: 'x' }));
    store.kv.set(requestDoneKey('withdrawn'), JSON.stringify({ state: 'serving', node: 'x', leaderToken: '1', at: at(ANSWER_TTL_MS + 1) }));
    const a = await leader(store, clock, 'a', { runs: [], resigns: [] });
    await serve(a);
    assert.deepEqual(store.kv.keysWithPrefix(requestsPrefix), [requestDoneKey('recent')]);
  });

  it('the caller gets its answer and leaves no key behind', async () => {
    const store = new FakeStore();
    const clock = new FakeClock(T0);
    const a = await leader(store, clock, 'a', { runs: [], resigns: [] });
    a.inbox.start();
    const cli = new FakeBackend({ store, forbidden: [] });
    // The fake's watch is silent: the caller's poll wakes the inbox, as the watch would.
    cli.before('get', () => void a.inbox.drain());
    const answer = await askLeader(cli, (id) => triggerRequestKey('backup', id), 5_000);
    assert.deepEqual([answer.ok, answer.runId], [true, `backup:${T0}`]);
    assert.deepEqual(store.kv.keysWithPrefix(requestsPrefix), []);
  });
});
