/** One `GET /metrics` as a Prometheus server sees it. */
export interface Scrape {
  bytes: number;
  lines: number;
  /** ms from the request to the last byte of the body, measured in this process. */
  ms: number;
  /** The sum of the samples of each metric without labels or with, by name. */
  totals: Map<string, number>;
}

/** Scrapes `<url>/metrics` once. */
export async function scrapeMetrics(url: string): Promise<Scrape> {
  const started = performance.now();
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`GET ${url}/metrics: HTTP ${res.status}`);
  const body = await res.text();
  const ms = performance.now() - started;
  const samples = body.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const totals = new Map<string, number>();
  for (const sample of samples) {
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(sample)![0];
    totals.set(name, (totals.get(name) ?? 0) + Number(sample.slice(sample.lastIndexOf(' ') + 1)));
  }
  return { bytes: Buffer.byteLength(body), lines: body.split('\n').filter((l) => l !== '').length, ms, totals };
}
