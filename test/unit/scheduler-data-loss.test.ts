import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DataLoss } from '../../src/election/backend.js';
import { dataLossKey } from '../../src/scheduler/records.js';
import { FakeStore } from '../helpers/fake-backend.js';
import { harness, jobConfig, seedState } from '../helpers/scheduler-harness.js';

const T = (hhmm: string): number => Date.parse(`2026-05-04T${hhmm}:00.000Z`);
const HOUR = 3_600_000;
const LOSS: DataLoss = { epoch: 'e2', lostEpoch: 'e1', aliveUntilMs: T('10:30'), detectedAtMs: T('10:31') };

/** A harness whose backend reports `loss` (as the Redis backend does after a restart that lost its data). */
async function withLoss(store: FakeStore, loss: DataLoss | null) {
  const hourly = { schedule: '0 * * * *', misfire: 'run_once' as const, deadlineMs: HOUR };
  const h = await harness([jobConfig('lost', hourly), jobConfig('kept', hourly)], { now: T('13:20'), store, auto: 'success' });
  Object.assign(h.backend, { dataLoss: () => Promise.resolve(loss) });
  return h;
}

describe('scheduler start after a backend data loss', () => {
  it('a job whose state was lost has every slot since the loss recorded missed (backend_data_loss), none caught up; a job with state follows misfire', async () => {
    const store = new FakeStore();
    seedState(store, 'kept', { lastSlot: T('10:00') });
    const h = await withLoss(store, LOSS);
    await h.scheduler.start();
    await h.scheduler.idle();
    assert.deepEqual(
      h.records('lost').map((r) => [new Date(r.slot).toISOString().slice(11, 16), r.outcome, r.reason]),
      [
        ['11:00', 'missed', 'backend_data_loss'],
        ['12:00', 'missed', 'backend_data_loss'],
        ['13:00', 'missed', 'backend_data_loss'],
      ],
    );
    assert.equal(h.state('lost')?.lastSlot, T('13:00'));
    assert.deepEqual(
      h.records('kept').map((r) => [new Date(r.slot).toISOString().slice(11, 16), r.outcome, r.reason]),
      [
        ['11:00', 'missed', 'no_leader'],
        ['12:00', 'missed', 'no_leader'],
        ['13:00', 'success', undefined],
      ],
    );
    assert.ok(h.backend.json(dataLossKey('e2')), 'the loss is recorded as handled');
  });

  it('a loss a leader has handled already (losses/<epoch>) leaves a job without state new: no backlog', async () => {
    const store = new FakeStore();
    seedState(store, 'kept', { lastSlot: T('13:00') });
    store.kv.set(dataLossKey('e2'), JSON.stringify(LOSS));
    const h = await withLoss(store, LOSS);
    await h.scheduler.start();
    await h.scheduler.idle();
    assert.deepEqual(h.records('lost'), []);
    assert.equal(h.state('lost')?.lastSlot, T('13:20'), 'baseline at the start');
  });
});
