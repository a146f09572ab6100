import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendConformance } from './backend-conformance.js';

let dir = '';

backendConformance({
  name: 'embedded',
  async setup() {
    dir = await mkdtemp(join(tmpdir(), 'lockd-embedded-conformance-'));
  },
  async teardown() {
    await rm(dir, { recursive: true, force: true });
  },
  config: () => ({ type: 'embedded', path: join(dir, 'lockd.db') }),
});
