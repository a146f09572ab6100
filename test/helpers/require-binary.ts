import { accessSync, constants } from 'node:fs';

/**
 * Throws a clear error when the server binary (or, `load`, the library) a test needs is missing. Tests never skip for a
 * missing server (CI must fail); `npm test` installs the Debian packages first.
 */
export function requireBinary(path: string, debianPackage: string, mode: 'run' | 'load' = 'run'): void {
  try {
    accessSync(path, mode === 'run' ? constants.X_OK : constants.R_OK);
  } catch {
    throw new Error(`${path} is missing: apt-get install ${debianPackage}, or run \`npm test\`, which installs it`);
  }
}
