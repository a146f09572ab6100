import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { failoverSuite } from './failover-suite.js';

let etcd: EtcdServer | undefined;
failoverSuite({
  name: 'etcd',
  setup: async () => {
    etcd = await startEtcd();
  },
  teardown: async () => {
    await etcd?.stop();
  },
  backendYaml: () => `  type: etcd\n  endpoints: [${etcd!.endpoint}]`,
});
