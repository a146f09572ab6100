import { startZooKeeperEnsemble } from '../helpers/zookeeper-server.js';
import { failoverSuite } from './failover-suite.js';

let ensemble: Awaited<ReturnType<typeof startZooKeeperEnsemble>> | undefined;
failoverSuite({
  name: 'zookeeper (3-server ensemble)',
  setup: async () => {
    ensemble = await startZooKeeperEnsemble(3);
  },
  teardown: async () => {
    await ensemble?.stop();
  },
  backendYaml: () => `  type: zookeeper\n  connect: ${ensemble!.connect}`,
});
