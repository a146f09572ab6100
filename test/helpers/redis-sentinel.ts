import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendConfig } from '../../src/config/types.js';
import { freePort } from './ports.js';
import { sendOnce } from './redis-server.js';
import { requireBinary } from './require-binary.js';
import { ServerProcess, type TestServer } from './server-process.js';
import { waitFor } from './wait-for.js';

/** Debian 12's redis-server and redis-sentinel (7.0). */
const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_SENTINEL = '/usr/bin/redis-sentinel';
const readyTimeoutMs = 30_000;
const host = '127.0.0.1';
/** The master name the sentinels monitor. */
const MASTER = 'mymaster';
/** Sentinels that must agree the primary is down (of three). */
const QUORUM = 2;

/** A primary or replica of the set. */
export interface RedisDataNode extends TestServer {
  readonly port: number;
  /** Runs one command on a new connection; rejects when it cannot connect within a second. */
  send(args: string[]): Promise<unknown>;
  /** Restarts the (killed) node on its files as a replica of the node on `port`; resolves when ready. */
  rejoinAsReplicaOf(port: number): Promise<void>;
}

/** One primary, one replica and three sentinels monitoring them as `mymaster`. */
export interface RedisSentinelSet {
  readonly master: string;
  /** `127.0.0.1:PORT` of each sentinel. */
  readonly nodes: readonly string[];
  /** The node that was primary at start, then the one that was replica. */
  readonly dataNodes: readonly [RedisDataNode, RedisDataNode];
  /** The backend config lockd uses for this set. */
  config(minReplicasAck: number): BackendConfig;
  /** The primary's port as each sentinel names it (undefined: no answer). */
  primaryPorts(): Promise<(number | undefined)[]>;
  /** Kills everything and removes the files. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a Sentinel deployment on loopback, every process on a port from `freePort()` and its
 * files in one `mkdtemp(tmpdir()/lockd-sentinel-)` directory (a subdirectory each): a primary and a
 * replica (`appendonly yes`, `appendfsync always`), and three sentinels with
 * `down-after-milliseconds 1000` and `failover-timeout 3000`, so that a killed primary is replaced
 * within a few seconds. Every process is started from a config file in that directory with
 * `set-proc-title no`, so that scripts/test-all.sh finds a leftover by its command line. Resolves
 * once the replica is in sync and every sentinel knows the replica and the two other sentinels
 * (only then can they agree on a failover). Throws when a binary is missing (never a skip) or the
 * set is not ready within 30 s; the processes die with the test process.
 */
export async function startRedisSentinel(): Promise<RedisSentinelSet> {
  requireBinary(REDIS_SERVER, 'redis-server');
  requireBinary(REDIS_SENTINEL, 'redis-sentinel');
  const root = mkdtempSync(join(tmpdir(), 'lockd-sentinel-'));
  const started: ServerProcess[] = [];
  try {
    const primary = await launch(started, (port) => new DataNode(join(root, 'primary'), port, undefined));
    const replica = await launch(started, (port) => new DataNode(join(root, 'replica'), port, primary.port));
    const sentinels: SentinelNode[] = [];
    for (let i = 1; i <= 3; i++) sentinels.push(await launch(started, (port) => new SentinelNode(join(root, `sentinel-${i}`), port, primary.port)));
    const set = new SentinelSet(root, [primary, replica], sentinels);
    await waitFor('the replica to sync', async () => /master_link_status:up/.test(String(await replica.send(['INFO', 'replication']))), readyTimeoutMs, 100);
    await waitFor(
      'the sentinels to know each other and the replica',
      async () => (await Promise.all(sentinels.map((s) => s.knowsTheSet()))).every(Boolean),
      readyTimeoutMs,
      100,
    );
    return set;
  } catch (err) {
    await Promise.all(started.map((s) => s.kill()));
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

/** Starts a process on a free port, retrying on a port clash. */
async function launch<T extends ServerProcess>(started: ServerProcess[], make: (port: number) => T): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const server = make(await freePort());
    try {
      await server.launch();
      started.push(server);
      return server;
    } catch (err) {
      lastError = err;
      await server.kill();
    }
  }
  throw new Error(`redis sentinel set did not start: ${String(lastError)}`);
}

class SentinelSet implements RedisSentinelSet {
  readonly master = MASTER;
  readonly nodes: readonly string[];

  constructor(
    private readonly root: string,
    readonly dataNodes: readonly [DataNode, DataNode],
    private readonly sentinels: readonly SentinelNode[],
  ) {
    this.nodes = sentinels.map((s) => `${host}:${s.port}`);
  }

  config(minReplicasAck: number): BackendConfig {
    return { type: 'redis', sentinel: { master: MASTER, nodes: [...this.nodes], minReplicasAck } };
  }

  primaryPorts(): Promise<(number | undefined)[]> {
    return Promise.all(
      this.sentinels.map(async (sentinel) => {
        const reply = await sentinel.send(['SENTINEL', 'get-master-addr-by-name', MASTER]).catch(() => null);
        return Array.isArray(reply) ? Number(reply[1]) : undefined;
      }),
    );
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.dataNodes].map((s) => s.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A process started from `<dir>/redis.conf`, answering on loopback `port`. */
abstract class ConfiguredNode extends ServerProcess {
  constructor(
    dir: string,
    label: string,
    readonly port: number,
  ) {
    super(dir, label, readyTimeoutMs);
    mkdirSync(dir, { recursive: true });
  }

  /** The lines of the config file, written before every start (a sentinel adds its state to it). */
  protected abstract settings(): string[];
  protected abstract readonly binary: string;

  protected command(): ReturnType<ServerProcess['command']> {
    const file = join(this.dir, 'redis.conf');
    const common = [`port ${this.port}`, `bind ${host}`, 'protected-mode no', `dir ${this.dir}`, 'set-proc-title no'];
    writeFileSync(file, [...common, ...this.settings(), ''].join('\n'));
    return { file: this.binary, args: [file], options: { cwd: this.dir } };
  }

  protected isReady(): Promise<boolean> {
    return this.send(['PING']).then(
      (reply) => reply === 'PONG',
      () => false,
    );
  }

  async send(args: string[]): Promise<unknown> {
    return sendOnce(`redis://${host}:${this.port}`, args);
  }
}

class DataNode extends ConfiguredNode implements RedisDataNode {
  protected readonly binary = REDIS_SERVER;

  constructor(
    dir: string,
    port: number,
    private replicaOf: number | undefined,
  ) {
    super(dir, 'redis', port);
  }

  protected settings(): string[] {
    const persistence = ['appendonly yes', 'appendfsync always', 'save ""'];
    return this.replicaOf === undefined ? persistence : [...persistence, `replicaof ${host} ${this.replicaOf}`];
  }

  async rejoinAsReplicaOf(port: number): Promise<void> {
    this.replicaOf = port;
    await this.restart();
  }
}

class SentinelNode extends ConfiguredNode {
  protected readonly binary = REDIS_SENTINEL;

  constructor(
    dir: string,
    port: number,
    private readonly primaryPort: number,
  ) {
    super(dir, 'sentinel', port);
  }

  protected settings(): string[] {
    return [
      `sentinel monitor ${MASTER} ${host} ${this.primaryPort} ${QUORUM}`,
      `sentinel down-after-milliseconds ${MASTER} 1000`,
      `sentinel failover-timeout ${MASTER} 3000`,
      `sentinel parallel-syncs ${MASTER} 1`,
    ];
  }

  /** Whether this sentinel knows one replica and the two other sentinels. */
  async knowsTheSet(): Promise<boolean> {
    try {
      const replicas = await this.send(['SENTINEL', 'replicas', MASTER]);
      const others = await this.send(['SENTINEL', 'sentinels', MASTER]);
      return Array.isArray(replicas) && replicas.length === 1 && Array.isArray(others) && others.length === 2;
    } catch {
      return false;
    }
  }
}
