import { startZooKeeper, type ZkServer } from '../helpers/zookeeper-server.js';
import { freePort } from '../helpers/ports.js';
import { operationsSuite } from './operations-suite.js';

let zk: ZkServer | undefined;
let closedPort = 0;
operationsSuite({
  name: 'zookeeper',
  setup: async () => {
    zk = await startZooKeeper();
    closedPort = await freePort();
  },
  teardown: async () => {
    await zk?.stop();
  },
  backendYaml: () => `  type: zookeeper\n  connect: ${zk!.connect}`,
  unreachableYaml: () => `  type: zookeeper\n  connect: 127.0.0.1:${closedPort}`,
});
