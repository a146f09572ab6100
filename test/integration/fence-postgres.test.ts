import { startPostgres, type PgServer } from '../helpers/postgres-server.js';
import { fenceSuite } from './fence-suite.js';

let pg: PgServer | undefined;
fenceSuite({
  name: 'postgres',
  setup: async () => {
    pg = await startPostgres();
  },
  teardown: async () => {
    await pg?.stop();
  },
  servers: () => [{ host: pg!.host, port: pg!.port }],
  backendYaml: (_dir, endpoints) => `  type: postgres\n  url: postgres://lockd@${endpoints[0]}/lockd`,
});
