import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './ports.js';
import { requireBinary } from './require-binary.js';

const etcdBinary = '/usr/bin/etcd';
const etcdctlBinary = '/usr/bin/etcdctl';

/** A single-member etcd on loopback, in a temp data dir, for one test file. */
export interface EtcdServer {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  /** Pid of the current etcd process (changes on `restart`). */
  readonly pid: number;
  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  /** SIGKILL, without waiting or cleaning up (use `restart` or `stop` afterwards). */
  kill9(): void;
  /** Kills the server if it runs and starts it again on the same data dir and ports; resolves when healthy. */
  restart(): Promise<void>;
  /** Kills the server and removes its data dir. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<{ child: ChildProcess; dir: string }>();
process.on('exit', () => {
  for (const { child, dir } of running) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

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

class Server implements EtcdServer {
  readonly endpoint: string;
  private child: ChildProcess | undefined;
  private entry: { child: ChildProcess; dir: string } | undefined;

  constructor(
    private readonly dir: string,
    clientPort: number,
    private readonly peerPort: number,
  ) {
    this.endpoint = `http://127.0.0.1:${clientPort}`;
  }

  get pid(): number {
    if (this.child?.pid === undefined) throw new Error('etcd is not running');
    return this.child.pid;
  }

  async launch(): Promise<void> {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const log = openSync(join(this.dir, 'etcd.log'), 'a');
    const child = spawn(
      etcdBinary,
      [
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
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    this.child = child;
    this.entry = { child, dir: this.dir };
    running.add(this.entry);
    await this.waitHealthy(child);
  }

  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  kill9(): void {
    this.child?.kill('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (this.entry) running.delete(this.entry);
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  private async waitHealthy(child: ChildProcess): Promise<void> {
    const deadline = performance.now() + 10_000;
    while (performance.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}):\n${this.logTail()}`);
      }
      if (await this.healthy()) return;
      await delay(100);
    }
    throw new Error(`etcd not healthy within 10 s:\n${this.logTail()}`);
  }

  private healthy(): Promise<boolean> {
    return new Promise((resolve) => {
      execFile(
        etcdctlBinary,
        [`--endpoints=${this.endpoint}`, '--command-timeout=1s', 'endpoint', 'health'],
        { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 3000 },
        (err) => resolve(err === null),
      );
    });
  }

  private logTail(): string {
    try {
      return readFileSync(join(this.dir, 'etcd.log'), 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
