import { readFileSync } from 'node:fs';
import { BackendStorageError } from '../../errors.js';

/**
 * Milliseconds on CLOCK_MONOTONIC. libuv reads it with clock_gettime(CLOCK_MONOTONIC), which on
 * Linux is one clock for the whole machine, so expiry times written by one process mean the same
 * instant to every other process on the host, and a wall-clock step moves none of them. Never fails.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

/**
 * The kernel's boot id. CLOCK_MONOTONIC restarts at each boot, so an expiry time is only
 * meaningful together with the boot it was measured in; rows of another boot are dead.
 * Throws `BackendStorageError` where the file does not exist (the embedded backend is Linux-only).
 */
export function readBootId(): string {
  try {
    return readFileSync(BOOT_ID_PATH, 'utf8').trim();
  } catch (err) {
    throw new BackendStorageError(`embedded backend: cannot read ${BOOT_ID_PATH} (it needs Linux)`, err);
  }
}
