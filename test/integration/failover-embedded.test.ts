import path from 'node:path';
import { failoverSuite } from './failover-suite.js';

failoverSuite({
  name: 'embedded',
  setup: async () => undefined,
  teardown: async () => undefined,
  // Each cluster has its own temp dir; its replicas share the one database file in it.
  backendYaml: (dir) => `  type: embedded\n  path: ${path.join(dir, 'lockd.db')}`,
});
