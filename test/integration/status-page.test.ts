import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import puppeteer, { type Browser } from 'puppeteer-core';
import { embeddedTarget, LockdCluster } from '../helpers/lockd-cluster.js';
import { freePort } from '../helpers/ports.js';
import { requireBinary } from '../helpers/require-binary.js';

const CHROMIUM = '/usr/bin/chromium';
const SECRET = 's3cr3t-never-on-the-page';

/** The status page at `/` of a real `lockd run` on the embedded backend, in Debian's headless Chromium. */
describe('status page', { timeout: 120_000 }, () => {
  let cluster: LockdCluster;
  let browser: Browser;
  before(async () => {
    requireBinary(CHROMIUM, 'chromium');
    cluster = new LockdCluster(embeddedTarget, { ttl: '3s', extraYaml: 'http:\n  listen: ${LOCKD_HTTP_LISTEN}' });
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });
  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('shows the leader, a job that succeeded and one whose slots are skipped, on a phone-sized screen', async (t) => {
    const port = await freePort();
    const jobs = [
      '  tidy:',
      '    schedule: "* * * * * *"',
      '    run: "true"',
      '    env:',
      `      API_TOKEN: ${SECRET}`,
      // Runs for longer than the test: every later slot finds it running and is skipped.
      '  slow:',
      '    schedule: "* * * * * *"',
      '    run: sleep 120',
      '    overlap: skip',
      // Each run takes 3 s; the slots queued behind it miss their 500 ms deadline.
      '  late:',
      '    schedule: "* * * * * *"',
      '    run: sleep 3',
      '    overlap: queue',
      '    deadline: 500ms',
    ].join('\n');
    const a = cluster.start('node-a', jobs, { LOCKD_HTTP_LISTEN: `127.0.0.1:${port}` });
    await a.waitForLeadership(20_000);
    await a.waitForLog((l) => l.msg === 'run finished' && l.job === 'tidy' && l.outcome === 'success', 20_000);
    await a.waitForLog((l) => l.msg === 'slot skipped: overlap' && l.job === 'slow', 20_000);
    await a.waitForLog((l) => l.msg === 'slot missed: deadline' && l.job === 'late', 20_000);

    const page = await browser.newPage();
    const problems: string[] = [];
    const foreign: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') problems.push(m.text());
    });
    page.on('pageerror', (err) => problems.push(String(err)));
    page.on('request', (r) => {
      if (!r.url().startsWith(`http://127.0.0.1:${port}/`) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    await page.setViewport({ width: 390, height: 844, isMobile: true });
    await page.goto(`http://127.0.0.1:${port}/`);
    // Browser-side code is passed as text: the test program is compiled without the DOM library.
    const text = async (selector: string): Promise<string> => String(await page.evaluate(`document.querySelector(${JSON.stringify(selector)})?.innerText ?? ''`));
    // The page fetches /status when it loads and every 5 s; `tidy` is `running` for a few ms a second.
    await page.waitForFunction(
      `document.querySelector('[data-job="tidy"] .outcome')?.textContent === 'success' && document.querySelector('[data-job="slow"] .outcome')?.textContent === 'skipped'`,
      { timeout: 20_000 },
    );

    assert.match(await text('#leader'), /node\s+node-a/);
    assert.match(await text('#candidates'), /node-a \(leader\)/);
    // Its own clock, against the replica that serves the page (itself).
    assert.match(await text('#candidates'), /clock [+-]\d+\.\d s/);
    assert.match(await text('#storage'), /at most \d+\.\d MiB of the 1024\.0 MiB storage_budget/);
    // `slow` runs for two minutes: its job lock is held by the leader meanwhile.
    assert.match(await text('#locks'), /slow token \d+, node-a \(/);
    // The skipped count is in the job's state, written just after the skipped record: wait for it.
    await page.waitForFunction(`/skipped [1-9]/.test(document.querySelector('[data-job="slow"] .detail')?.textContent ?? '')`, { timeout: 20_000 });
    assert.match(await text('#counts'), /skipped slots in total [1-9]\d*/);
    assert.match(await text('#counts'), /last slot missed or skipped [12]/);
    const order = (await page.evaluate(`[...document.querySelectorAll('#jobs li')].map((li) => li.dataset.job)`)) as string[];
    assert.equal(order.at(-1), 'tidy', 'the jobs whose slots are missed or skipped come before the healthy one');
    // A missed slot shows: in the job's timeline (a mark titled "missed") and in its count.
    await page.waitForFunction(`[...document.querySelectorAll('[data-job="late"] .timeline i')].some((i) => i.title.startsWith('missed'))`, { timeout: 20_000 });
    await page.waitForFunction(`/missed [1-9]/.test(document.querySelector('[data-job="late"] .detail')?.textContent ?? '')`, { timeout: 20_000 });
    // The timeline: one mark per recent run, oldest left, each with its outcome, token and duration.
    await page.waitForFunction(`document.querySelectorAll('[data-job="tidy"] .timeline i.o-success').length >= 2`, { timeout: 20_000 });
    const marks = (await page.evaluate(`[...document.querySelectorAll('[data-job="tidy"] .timeline i')].map((i) => i.title)`)) as string[];
    assert.ok(marks.length <= 10, `at most 10 runs in the timeline, got ${marks.length}`);
    assert.match(marks.at(-1) ?? '', /^(success|running) · .* · token \d+/);
    assert.match(await text('[data-job="tidy"] .detail'), /token \d+/);
    const body = await text('body');
    assert.ok(!body.includes(SECRET), 'the page shows no env value');
    const width = Number(await page.evaluate('document.documentElement.scrollWidth'));
    assert.ok(width <= 390, `no horizontal scrolling on a phone (page is ${width} px wide)`);
    assert.deepEqual(foreign, [], 'no external requests');
    assert.deepEqual(problems, [], 'no script errors or CSP violations');

    // The lease headroom alert divides by this; it comes from the backend's TTL (`ttl: 3s`).
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^lockd_lease_ttl_seconds 3$/m);

    const shots = mkdtempSync(path.join(os.tmpdir(), 'lockd-status-page-'));
    await page.screenshot({ path: path.join(shots, 'status-page.png'), fullPage: true });
    t.diagnostic(`screenshot: ${path.join(shots, 'status-page.png')}`);
  });
});
