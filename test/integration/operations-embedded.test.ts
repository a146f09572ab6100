import path from 'node:path';
import { operationsSuite } from './operations-suite.js';

operationsSuite({
  name: 'embedded',
  setup: async () => undefined,
  teardown: async () => undefined,
  backendYaml: (dir) => `  type: embedded\n  path: ${path.join(dir, 'lockd.db')}`,
  unreachableYaml: (dir) => `  type: embedded\n  path: ${path.join(dir, 'no-such-dir', 'lockd.db')}`,
});
