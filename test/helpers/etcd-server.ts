import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { requireBinary } from './require-binary.js';
import { endpointHealthy, etcdBinary, etcdctlBinary } from './etcdctl.js';
import { ServerProcess, type TestServer } from './server-process.js';

/** A single-member etcd on loopback, in a temp data dir, for one test file. */
export interface EtcdServer extends TestServer {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
}

/**
 * Starts etcd (`/usr/bin/etcd`, Debian's etcd-server) with client and peer ports from `freePort()`,
 * and resolves once `etcdctl endpoint health` passes. Retries on a port clash; throws when the
 * binary is missing or the server does not become healthy within ~10 s.
 */
export async function startEtcd(): Promise<EtcdServer> {
  requireBinary(etcdBinary, 'etcd-server');
  requireBinary(etcdctlBinary, 'etcd-client');
  const dir = mkdtempSync(join(tmpdir(), 'lockd-etcd-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const ports = { client: await freePort(), peer: await freePort() };
    const server = new Server(dir, ports.client, ports.peer);
    try {
      await server.launch();
      return server;
    } catch (err) {
      lastError = err;
      await server.kill();
      rmSync(join(dir, 'data'), { recursive: true, force: true });
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`etcd did not start: ${String(lastError)}`);
}

class Server extends ServerProcess implements EtcdServer {
  readonly endpoint: string;

  constructor(
    dir: string,
    clientPort: number,
    private readonly peerPort: number,
  ) {
    super(dir, 'etcd', 10_000);
    this.endpoint = `http://127.0.0.1:${clientPort}`;
  }

  protected command(): { file: string; args: string[] } {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    return {
      file: etcdBinary,
      args: [
        '--name=lockd-test',
        `--data-dir=${join(this.dir, 'data')}`,
        `--listen-client-urls=${this.endpoint}`,
        `--advertise-client-urls=${this.endpoint}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=lockd-test=${peer}`,
        '--initial-cluster-state=new',
        // A lone member elects itself after one election timeout: keep start-up and restarts fast.
        '--heartbeat-interval=50',
        '--election-timeout=300',
        '--logger=zap',
        '--log-level=warn',
      ],
    };
  }

  protected isReady(): Promise<boolean> {
    return endpointHealthy(this.endpoint);
  }
}
