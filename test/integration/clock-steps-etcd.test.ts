import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { clockStepSuite } from './clock-steps-suite.js';

let etcd: EtcdServer | undefined;
clockStepSuite({
  name: 'etcd',
  setup: async () => {
    etcd = await startEtcd();
  },
  teardown: async () => {
    await etcd?.stop();
  },
  backendYaml: () => `  type: etcd\n  endpoints: [${etcd!.endpoint}]`,
});
