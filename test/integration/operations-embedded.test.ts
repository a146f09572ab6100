import path from 'node:path';
import { embeddedTarget } from '../helpers/lockd-cluster.js';
import { operationsSuite } from './operations-suite.js';

operationsSuite({
  ...embeddedTarget,
  unreachableYaml: (dir) => `  type: embedded\n  path: ${path.join(dir, 'no-such-dir', 'lockd.db')}`,
});
