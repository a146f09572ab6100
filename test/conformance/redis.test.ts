import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { backendConformance } from './backend-conformance.js';

let server: RedisServer | undefined;

function running(): RedisServer {
  if (!server) throw new Error('redis is not started');
  return server;
}

backendConformance({
  name: 'redis',
  async setup() {
    server = await startRedis();
  },
  async teardown() {
    await server?.stop();
  },
  config: () => ({ type: 'redis', url: running().url }),
  async freezeServer() {
    const s = running();
    s.freeze();
    return async () => s.thaw();
  },
});
