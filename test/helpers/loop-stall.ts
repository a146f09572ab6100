import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/** What `withLongestStall` measured. */
export interface Stall<T> {
  value: T;
  /** The longest stretch the loop was held by this process's own code (GC pauses taken out). */
  stallMs: number;
  /** The longest garbage-collection pause meanwhile. */
  longestGcMs: number;
}

/**
 * Runs `work` while a ticker every `tickMs` records the gaps between its ticks: how long the main
 * event loop was held (plus up to one tick of timer slack). A gap counts only as long as this
 * process used the CPU during it (`process.cpuUsage`), so time the OS gave to other processes on
 * a loaded machine is not taken for a stall, and less the garbage-collection pauses that began in
 * it, which are reported apart (`longestGcMs`): the figure is the loop held by the code under
 * test. Resolves once `work` has and the GC entries are in; rejects like `work`.
 */
export async function withLongestStall<T>(work: () => Promise<T>, tickMs = 5): Promise<Stall<T>> {
  const gcs: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const gaps: Array<{ from: number; to: number; cpuMs: number }> = [];
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const sample = (): void => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    gaps.push({ from: last, to: now, cpuMs: (cpu.user + cpu.system) / 1000 });
    last = now;
    lastCpu = process.cpuUsage();
  };
  const ticker = setInterval(sample, tickMs);
  try {
    const value = await work();
    sample();
    clearInterval(ticker);
    // GC entries arrive after the pause, on a later turn.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const gcIn = (from: number, to: number): number =>
      gcs.filter((e) => e.startTime >= from && e.startTime < to).reduce((sum, e) => sum + e.duration, 0);
    const stallMs = Math.max(0, ...gaps.map((g) => Math.min(g.to - g.from, g.cpuMs) - gcIn(g.from, g.to)));
    return { value, stallMs, longestGcMs: Math.max(0, ...gcs.map((e) => e.duration)) };
  } finally {
    clearInterval(ticker);
    observer.disconnect();
  }
}
