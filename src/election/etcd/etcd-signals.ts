/** Abort-signal plumbing for the etcd backend's waits. */

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

/** Resolves after `ms`; rejects with `signal.reason` if it aborts first. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
