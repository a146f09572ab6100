import { startZooKeeper, type ZkServer } from '../helpers/zookeeper-server.js';
import { backendConformance } from './backend-conformance.js';

let server: ZkServer | undefined;

function running(): ZkServer {
  if (!server) throw new Error('zookeeper is not started');
  return server;
}

backendConformance({
  name: 'zookeeper',
  async setup() {
    server = await startZooKeeper();
  },
  async teardown() {
    await server?.stop();
  },
  config: () => ({ type: 'zookeeper', connect: running().connect }),
  async freezeServer() {
    const s = running();
    s.freeze();
    return async () => s.thaw();
  },
});
