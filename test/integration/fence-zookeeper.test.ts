import { startZooKeeper, type ZkServer } from '../helpers/zookeeper-server.js';
import { fenceSuite } from './fence-suite.js';

let zk: ZkServer | undefined;
fenceSuite({
  name: 'zookeeper',
  setup: async () => {
    zk = await startZooKeeper();
  },
  teardown: async () => {
    await zk?.stop();
  },
  servers: () => {
    const [host, port] = zk!.connect.split(':');
    return [{ host: host!, port: Number(port) }];
  },
  backendYaml: (_dir, endpoints) => `  type: zookeeper\n  connect: ${endpoints.join(',')}`,
});
