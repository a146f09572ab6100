import { startPostgres, type PgServer } from '../helpers/postgres-server.js';
import { failoverSuite } from './failover-suite.js';

let pg: PgServer | undefined;
failoverSuite({
  name: 'postgres',
  setup: async () => {
    pg = await startPostgres();
  },
  teardown: async () => {
    await pg?.stop();
  },
  backendYaml: () => `  type: postgres\n  url: ${pg!.url}`,
});
