import path from 'node:path';
import { holdsSqliteWriteLock } from '../helpers/freeze.js';
import { fenceSuite } from './fence-suite.js';

fenceSuite({
  name: 'embedded',
  setup: async () => undefined,
  teardown: async () => undefined,
  backendYaml: (dir) => `  type: embedded\n  path: ${path.join(dir, 'lockd.db')}`,
  blocksOthersWhileFrozen: (pid, dir) => holdsSqliteWriteLock(pid, path.join(dir, 'lockd.db')),
});
