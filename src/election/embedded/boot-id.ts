import { readFileSync } from 'node:fs';
import { BackendStorageError } from '../../errors.js';

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
