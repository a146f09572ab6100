import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { embeddedTarget, LockdCluster } from '../helpers/lockd-cluster.js';
import { LockdProcess, pollLockdJson } from '../helpers/lockd-process.js';
import { waitFor } from '../helpers/wait-for.js';
import type { RunRecord } from '../../src/scheduler/records.js';

const JOBS = ['a', 'b', 'c'];

/** One line of the ledger: a job (or the outside holder) took or gave up its seat. */
interface Mark {
  what: 'start' | 'end';
  who: string;
  token: string;
}

/** The ledger's lines in the order they were appended. */
function readMarks(ledger: string): Mark[] {
  if (!existsSync(ledger)) return [];
  return readFileSync(ledger, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [what, who, token] = line.split(' ');
      return { what: what as Mark['what'], who: who!, token: token! };
    });
}

/** The most seats held at once by the marks' holders (a start opens a hold, its end closes it). */
function mostAtOnce(marks: Mark[]): number {
  const open = new Set<string>();
  let most = 0;
  for (const m of marks) {
    if (m.what === 'start') open.add(`${m.who} ${m.token}`);
    else open.delete(`${m.who} ${m.token}`);
    most = Math.max(most, open.size);
  }
  return most;
}

/** The holds started and not (yet) ended. */
const openHolds = (marks: Mark[]): Mark[] => marks.filter((m) => m.what === 'start' && !marks.some((e) => e.what === 'end' && e.who === m.who && e.token === m.token));

/**
 * A shell line that marks its start in `ledger` with `who` and `token` (variables expanded by the
 * shell), blocks until `release` exists, and marks its end.
 */
const blockingScript = (ledger: string, release: string, who: string, token: string): string =>
  `echo "start ${who} ${token}" >> ${ledger}; while [ ! -e ${release} ]; do sleep 0.05; done; echo "end ${who} ${token}" >> ${ledger}`;

describe('job seats: jobs of one leader share a seat set with outside holders (embedded)', { timeout: 90_000 }, () => {
  let cluster: LockdCluster;
  before(() => {
    cluster = new LockdCluster(embeddedTarget, { ttl: '2s' });
  });
  after(async () => {
    writeFileSync(cluster.file('release'), '');
    writeFileSync(cluster.file('release-holder'), '');
    await cluster.stop();
  });

  it('at most count runs at once; the rest skipped/seats_full; a lockd lock --seats holder takes a seat', async () => {
    const ledger = cluster.file('ledger');
    const release = cluster.file('release');
    const jobsYaml = JOBS.map((job) =>
      [
        `  ${job}:`,
        '    schedule: "* * * * * *"',
        '    overlap: skip',
        '    seats: { name: gpu, count: 2 }',
        `    run: ${JSON.stringify(blockingScript(ledger, release, '$LOCKD_JOB', '$LOCKD_SEAT_TOKEN'))}`,
      ].join('\n'),
    ).join('\n');
    const replica = cluster.start('a', jobsYaml);
    const config = cluster.file('a.yaml');
    const history = (job: string): Promise<RunRecord[]> => pollLockdJson<RunRecord[]>(['history', job, '--json', '-n', '100', '-c', config], () => true);

    // Two jobs hold the two seats; the third's slots find every seat taken.
    await waitFor(
      'two jobs to run',
      () => {
        const open = openHolds(readMarks(ledger));
        assert.ok(open.length <= 2, `more runs at once than seats: ${open.map((m) => m.who).join(' ')}`);
        return open.length === 2;
      },
      20_000,
    );
    const running = openHolds(readMarks(ledger)).map((m) => m.who);
    const third = JOBS.find((job) => !running.includes(job))!;
    const skipped = await pollLockdJson<RunRecord[]>(['history', third, '--json', '-n', '100', '-c', config], (records) => records.length >= 2);
    assert.ok(
      skipped.every((r) => r.outcome === 'skipped' && r.reason === 'seats_full'),
      JSON.stringify(skipped.map((r) => [r.outcome, r.reason])),
    );
    assert.equal(mostAtOnce(readMarks(ledger)), 2, replica.tail());
    const [first, second] = readMarks(ledger);
    assert.notEqual(first?.token, second?.token, 'each run has a seat token of its own');
    const firstRecord = (await history(first!.who)).find((r) => r.outcome === 'running');
    assert.equal(firstRecord?.seatToken, first?.token, "the record carries the run's seat token");
    assert.notEqual(firstRecord?.token, firstRecord?.seatToken);

    // An outside holder queues for a seat; once the runs end it holds one, so one job runs at a time.
    const holderRelease = cluster.file('release-holder');
    const holder = new LockdProcess('holder', [
      'lock', 'gpu', '--seats', '2', '--wait', '30s', '-c', config, '--',
      'sh', '-c', blockingScript(ledger, holderRelease, 'holder', '$LOCKD_FENCING_TOKEN'),
    ]);
    await pollLockdJson<Array<{ name: string; waiting: number }>>(['locks', '--json', '-c', config], (locks) => locks.some((l) => l.name === 'gpu' && l.waiting > 0));
    writeFileSync(release, '');
    await waitFor('the outside holder to take a seat', () => readMarks(ledger).some((m) => m.who === 'holder'), 20_000);
    rmSync(release);
    await waitFor('a job to run beside the holder', () => openHolds(readMarks(ledger)).some((m) => m.who !== 'holder'), 20_000);
    const besideSince = Date.now();
    const blocked = openHolds(readMarks(ledger)).find((m) => m.who !== 'holder')!;
    const others = JOBS.filter((job) => job !== blocked.who);
    await waitFor(
      'a later slot of another job to be skipped/seats_full',
      async () => {
        const records = (await Promise.all(others.map(history))).flat();
        return records.some((r) => r.slot > besideSince && r.reason === 'seats_full');
      },
      20_000,
      200,
    );
    const marks = readMarks(ledger);
    assert.ok(mostAtOnce(marks) <= 2, JSON.stringify(marks));
    const sinceHolder = marks.slice(marks.findIndex((m) => m.who === 'holder'));
    assert.equal(mostAtOnce(sinceHolder.filter((m) => m.who !== 'holder')), 1, JSON.stringify(sinceHolder));
    const tokens = marks.filter((m) => m.what === 'start' && m.who !== 'holder').map((m) => m.token);
    assert.equal(new Set(tokens).size, tokens.length, `seat tokens ${tokens.join(' ')}`);

    writeFileSync(holderRelease, '');
    assert.equal((await holder.exited).code, 0);
  });
});
