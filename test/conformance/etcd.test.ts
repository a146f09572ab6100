import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { backendConformance } from './backend-conformance.js';

let server: EtcdServer | undefined;

function running(): EtcdServer {
  if (!server) throw new Error('etcd is not started');
  return server;
}

backendConformance({
  name: 'etcd',
  seats: true,
  async setup() {
    server = await startEtcd();
  },
  async teardown() {
    await server?.stop();
  },
  config: () => ({ type: 'etcd', endpoints: [running().endpoint] }),
  async freezeServer() {
    const s = running();
    s.freeze();
    return async () => s.thaw();
  },
});
