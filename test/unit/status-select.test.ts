import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { jobGlob } from '../../src/cli/job-glob.js';
import { renderStatus } from '../../src/cli/render-status.js';
import type { LockdConfig } from '../../src/config/types.js';
import { startHttpServer, type HttpServer } from '../../src/http/server.js';
import { LockdMetrics } from '../../src/observe/metrics.js';
import { collectStatus, type StatusPage } from '../../src/observe/status-snapshot.js';
import { runKey, type RunRecord } from '../../src/scheduler/records.js';
import { FakeBackend, FakeStore } from '../helpers/fake-backend.js';
import { jobConfig } from '../helpers/scheduler-harness.js';

const now = Date.parse('2026-11-29T10:00:30.000Z');
const names = [...Array.from({ length: 45 }, (_, i) => `tenant-${i}-report`), 'cleanup', 'cleanup.tmp', 'a+b'];

function setup(): { config: LockdConfig; backend: FakeBackend } {
  const store = new FakeStore();
  const jobs = names.map((name) => jobConfig(name, { schedule: '0 * * * *' }));
  for (const job of jobs) {
    const slot = now - 30_000;
    const record: RunRecord = { job: job.name, slot, runId: `${job.name}:${slot}`, scheduledAt: new Date(slot).toISOString(), node: 'web-1', token: '9', leaderToken: '3', outcome: 'success', attempt: 1, durationMs: 50 };
    store.kv.set(runKey(job.name, slot), JSON.stringify(record));
  }
  const config: LockdConfig = { file: '/etc/lockd.yaml', cluster: 'sel', node: 'cli', backend: { type: 'embedded', path: 'x.db' }, leader: { ttlMs: 10_000, maxClockSkewMs: 5000 }, shutdownGraceMs: 30_000, log: { level: 'info' }, storage: { budgetBytes: 1024 ** 3, estimateBytes: 0 }, jobs };
  return { config, backend: new FakeBackend({ store }) };
}

describe('lockd status --job NAME|GLOB', () => {
  it('matches whole names: * any run of characters, ? one, everything else literal', () => {
    const match = (pattern: string): string[] => names.filter(jobGlob(pattern));
    assert.deepEqual(match('cleanup'), ['cleanup']);
    assert.deepEqual(match('tenant-?-report'), Array.from({ length: 10 }, (_, i) => `tenant-${i}-report`));
    assert.equal(match('tenant-*').length, 45);
    assert.deepEqual(match('tenant-4*-report'), ['tenant-4-report', ...Array.from({ length: 5 }, (_, i) => `tenant-4${i}-report`)]);
    assert.deepEqual(match('cleanup.*'), ['cleanup.tmp']);
    assert.deepEqual(match('clean'), []);
    assert.deepEqual(match('a+b'), ['a+b']);
    assert.deepEqual(match('*'), names);
  });

  it('reads only the matching jobs and lists all of them', async () => {
    const { config, backend } = setup();
    const jobs = config.jobs.filter((job) => jobGlob('tenant-1*')(job.name));
    const snapshot = await collectStatus(backend, config, now, { jobs });
    assert.deepEqual(
      snapshot.jobs.map((j) => j.name),
      ['tenant-1-report', ...Array.from({ length: 10 }, (_, i) => `tenant-1${i}-report`)],
    );
    assert.equal(snapshot.summary.total, 11);
    assert.equal(snapshot.summary.ok, 11);
    assert.equal(backend.callsOf('list').filter(([prefix]) => String(prefix).startsWith('runs/')).length, 11);
    const rows = renderStatus(snapshot, now, false, { all: true })
      .split('\n')
      .filter((l) => l.startsWith('tenant-'));
    assert.equal(rows.length, 11);
  });

  it('without --all, more than 20 healthy jobs show as a summary only', async () => {
    const { config, backend } = setup();
    const text = renderStatus(await collectStatus(backend, config, now), now, false);
    assert.match(text, /^jobs {4}48: 48 ok, 0 failing, 0 missed, 0 running, 0 never run$/m);
    assert.match(text, /^next {4}2026-11-29T11:00:00\.000Z \(in 59m30s\): tenant-0-report, tenant-1-report, tenant-2-report, tenant-3-report, tenant-4-report and 43 more$/m);
    assert.match(text, /^no job needs attention: use --all to list all 48$/m);
    assert.doesNotMatch(text, /^tenant-/m);
  });
});

describe('/status?limit=&offset=', () => {
  let server: HttpServer;
  let backend: FakeBackend;
  before(async () => {
    const built = setup();
    backend = built.backend;
    server = await startHttpServer({
      listen: '127.0.0.1:0',
      metrics: new LockdMetrics({ processMetrics: false }),
      backend,
      config: () => built.config,
      live: () => true,
      logger: pino({ level: 'silent' }),
    });
  });
  after(() => server.close());

  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
    return { status: res.status, body: await res.text() };
  };

  it('answers the page asked for, in config order, with the total, reading only its jobs', async () => {
    const before = backend.callsOf('list').length;
    const res = await get('/status?limit=10&offset=20');
    assert.equal(res.status, 200, res.body);
    const page = JSON.parse(res.body) as StatusPage;
    assert.equal(page.total, names.length);
    assert.equal(page.offset, 20);
    assert.equal(page.limit, 10);
    assert.deepEqual(
      page.jobs.map((j) => j.name),
      names.slice(20, 30),
    );
    assert.equal(page.jobs[0]?.last?.outcome, 'success');
    assert.equal(page.cluster, 'sel');
    // The page's ten run listings plus one of the job states and one of the published clocks.
    assert.equal(backend.callsOf('list').length - before, 12);
  });

  it('defaults to the first 100 jobs; past the end is an empty page', async () => {
    const first = JSON.parse((await get('/status')).body) as StatusPage;
    assert.equal(first.offset, 0);
    assert.equal(first.limit, 100);
    assert.equal(first.jobs.length, names.length);
    const beyond = JSON.parse((await get('/status?offset=1000')).body) as StatusPage;
    assert.deepEqual(beyond.jobs, []);
    assert.equal(beyond.total, names.length);
  });

  it('recent=N adds each job\'s newest N runs, newest first, without their output; absent otherwise', async () => {
    const job = names[0]!;
    for (const ago of [5_000, 2_000, 1_000]) {
      const slot = now - ago;
      const record: RunRecord = { job, slot, runId: `${job}:${slot}`, scheduledAt: new Date(slot).toISOString(), node: 'web-1', token: String(ago), leaderToken: '3', outcome: ago === 2_000 ? 'missed' : 'success', attempt: 1, output: 'x'.repeat(100) };
      backend.store.kv.set(runKey(job, slot), JSON.stringify(record));
    }
    const page = JSON.parse((await get('/status?limit=1&recent=3')).body) as StatusPage;
    assert.deepEqual(
      page.jobs[0]?.recent?.map((r) => [r.token, r.outcome]),
      [['1000', 'success'], ['2000', 'missed'], ['5000', 'success']],
    );
    assert.ok(!JSON.stringify(page.jobs[0]?.recent).includes('xxx'), 'no output in the timeline');
    const plain = JSON.parse((await get('/status?limit=1')).body) as StatusPage;
    assert.equal(plain.jobs[0]?.recent, undefined);
  });

  it('refuses a bad limit, offset or recent with 400 and the reason', async () => {
    for (const query of ['limit=0', 'limit=1001', 'limit=ten', 'offset=-1', 'offset=1.5', 'recent=21', 'recent=x']) {
      const res = await get(`/status?${query}`);
      assert.equal(res.status, 400, query);
      assert.match(res.body, /must be an integer/);
    }
  });
});
