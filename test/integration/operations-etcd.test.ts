import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { freePort } from '../helpers/ports.js';
import { operationsSuite } from './operations-suite.js';

let etcd: EtcdServer | undefined;
let closedPort = 0;
operationsSuite({
  name: 'etcd',
  setup: async () => {
    etcd = await startEtcd();
    closedPort = await freePort();
  },
  teardown: async () => {
    await etcd?.stop();
  },
  backendYaml: () => `  type: etcd\n  endpoints: [${etcd!.endpoint}]`,
  unreachableYaml: () => `  type: etcd\n  endpoints: [http://127.0.0.1:${closedPort}]`,
});
