import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { fenceSuite } from './fence-suite.js';

let etcd: EtcdServer | undefined;
fenceSuite({
  name: 'etcd',
  setup: async () => {
    etcd = await startEtcd();
  },
  teardown: async () => {
    await etcd?.stop();
  },
  servers: () => [hostPort(etcd!.endpoint.replace('http://', ''))],
  backendYaml: (_dir, endpoints) => `  type: etcd\n  endpoints: [${endpoints.map((e) => `http://${e}`).join(', ')}]`,
});

function hostPort(text: string): { host: string; port: number } {
  const [host, port] = text.split(':');
  return { host: host!, port: Number(port) };
}
