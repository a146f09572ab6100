import type { Logger } from 'pino';
import type { Watcher } from 'etcd3';
import type { EtcdRpc } from './etcd-rpc.js';

/**
 * Resolves once `key` (with `prefix`: any key starting with `key`) may have been deleted at or
 * after `fromRevision`: on the first DELETE event, and also when the watch breaks (disconnect, or
 * a compacted start revision), since the caller re-reads the state either way. Rejects with
 * `signal.reason` when `signal` aborts. The watch is cancelled in every case.
 */
export function waitForDelete(rpc: EtcdRpc, key: string, fromRevision: bigint, signal: AbortSignal, opts: { prefix?: boolean } = {}): Promise<void> {
  signal.throwIfAborted();
  const watcher = rpc.watcher(key, { fromRevision, deletesOnly: true, prefix: opts.prefix === true });
  return new Promise<void>((resolve, reject) => {
    const finish = (err?: unknown): void => {
      signal.removeEventListener('abort', onAbort);
      watcher.removeAllListeners();
      // Keep a listener: an error emitted while cancelling must not crash the process.
      watcher.on('error', () => undefined);
      watcher.cancel().catch(() => undefined);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    watcher.on('delete', () => finish());
    watcher.on('disconnected', () => finish());
    watcher.on('error', () => finish());
  });
}

/**
 * Calls `onChange` on every put or delete under `prefix`, and once after the watch recovers from
 * a disconnect or a compaction (events may have been missed). Best effort; returns an
 * unsubscribe function. Never throws.
 */
export function watchPrefix(rpc: EtcdRpc, prefix: string, onChange: () => void, log: Logger): () => void {
  let watcher: Watcher | undefined;
  let stopped = false;
  const fire = (): void => {
    try {
      onChange();
    } catch (err) {
      log.error({ err: String(err), prefix }, 'watchPrefix listener threw');
    }
  };
  const start = (): void => {
    let missed = false;
    const w = rpc.watcher(prefix, { prefix: true });
    watcher = w;
    w.on('put', fire);
    w.on('delete', fire);
    w.on('disconnected', () => (missed = true));
    w.on('connected', () => {
      if (missed) fire();
      missed = false;
    });
    w.on('error', (err) => {
      // Cancelled by etcd (e.g. its start revision was compacted): watch afresh from now.
      log.debug({ err: String(err), prefix }, 'prefix watch cancelled; restarting');
      w.removeAllListeners();
      w.on('error', () => undefined);
      if (stopped) return;
      setTimeout(() => {
        if (stopped) return;
        start();
        fire();
      }, 100);
    });
  };
  start();
  return () => {
    stopped = true;
    watcher?.on('error', () => undefined);
    watcher?.cancel().catch(() => undefined);
  };
}
