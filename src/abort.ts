/** Resolves when `signal` aborts (at once if it already has). Never rejects. */
export function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Resolves after `ms`, or early (without rejecting) when `signal` aborts. */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * A signal that aborts with the reason of the first of `signals` to abort. Unlike
 * `AbortSignal.any`, whose dependants a long-lived source keeps alive (nodejs/node#55351),
 * `dispose()` detaches it.
 */
export function linkSignals(signals: ReadonlyArray<AbortSignal | undefined>): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const sources = signals.filter((s): s is AbortSignal => s !== undefined);
  const onAbort = (event: Event): void => controller.abort((event.target as AbortSignal).reason);
  const dispose = (): void => sources.forEach((s) => s.removeEventListener('abort', onAbort));
  const already = sources.find((s) => s.aborted);
  if (already) controller.abort(already.reason);
  else sources.forEach((s) => s.addEventListener('abort', onAbort, { once: true }));
  return { signal: controller.signal, dispose };
}
