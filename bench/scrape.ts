/** One `GET /metrics` as a Prometheus server sees it. */
export interface Scrape {
  bytes: number;
  lines: number;
  /** ms from the request to the last byte of the body, measured in this process. */
  ms: number;
}

/** Scrapes `<url>/metrics` once. */
export async function scrapeMetrics(url: string): Promise<Scrape> {
  const started = performance.now();
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`GET ${url}/metrics: HTTP ${res.status}`);
  const body = await res.text();
  const ms = performance.now() - started;
  return { bytes: Buffer.byteLength(body), lines: body.split('\n').filter((l) => l !== '').length, ms };
}
