import { startPostgres, type PgServer } from '../helpers/postgres-server.js';
import { backendConformance } from './backend-conformance.js';

let server: PgServer | undefined;

function running(): PgServer {
  if (!server) throw new Error('postgres is not started');
  return server;
}

backendConformance({
  name: 'postgres',
  async setup() {
    server = await startPostgres();
  },
  async teardown() {
    await server?.stop();
  },
  config: () => ({ type: 'postgres', url: running().url, schema: 'lockd' }),
  async freezeServer() {
    const s = running();
    s.freeze();
    return async () => s.thaw();
  },
});
