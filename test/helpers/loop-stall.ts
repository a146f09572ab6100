/**
 * Runs `work` while a ticker every `tickMs` records the longest gap between its ticks: the longest
 * stretch the main event loop was held (plus up to one tick of timer slack). Resolves with what
 * `work` resolved with and that gap in ms; rejects like `work`.
 */
export async function withLongestStall<T>(work: () => Promise<T>, tickMs = 5): Promise<{ value: T; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, tickMs);
  try {
    const value = await work();
    return { value, stallMs: Math.max(stallMs, performance.now() - last) };
  } finally {
    clearInterval(ticker);
  }
}
