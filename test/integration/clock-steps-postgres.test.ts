import { startPostgres, type PgServer } from '../helpers/postgres-server.js';
import { clockStepSuite } from './clock-steps-suite.js';

let pg: PgServer | undefined;
clockStepSuite({
  name: 'postgres',
  setup: async () => {
    pg = await startPostgres();
  },
  teardown: async () => {
    await pg?.stop();
  },
  backendYaml: () => `  type: postgres\n  url: ${pg!.url}`,
});
