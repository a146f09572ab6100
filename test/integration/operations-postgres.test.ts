import { freePort } from '../helpers/ports.js';
import { startPostgres, type PgServer } from '../helpers/postgres-server.js';
import { operationsSuite } from './operations-suite.js';

let pg: PgServer | undefined;
let closedPort = 0;
operationsSuite({
  name: 'postgres',
  setup: async () => {
    pg = await startPostgres();
    closedPort = await freePort();
  },
  teardown: async () => {
    await pg?.stop();
  },
  backendYaml: () => `  type: postgres\n  url: ${pg!.url}`,
  unreachableYaml: () => `  type: postgres\n  url: postgres://lockd@127.0.0.1:${closedPort}/lockd`,
});
