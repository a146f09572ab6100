import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { requireBinary } from './require-binary.js';
import { ServerProcess, type TestServer } from './server-process.js';

const javaBinary = '/usr/bin/java';
const zookeeperJar = '/usr/share/java/zookeeper.jar';
// zookeeper.jar's manifest names its dependencies (jute, netty, ...); only a logging binding is added.
const classpath = `${zookeeperJar}:/usr/share/java/slf4j-simple.jar`;
const readyTimeoutMs = 20_000;

/**
 * One ZooKeeper server process on loopback, in a temp data dir. While frozen it expires no
 * session; after `kill9` + `restart` sessions survive (they are on disk).
 */
export interface ZkServer extends TestServer {
  /** `127.0.0.1:PORT` */
  readonly connect: string;
}

/** A ZooKeeper ensemble; `connect` lists every member. */
export interface ZkEnsemble {
  readonly connect: string;
  readonly servers: ZkServer[];
  /** Stops every member and removes their files. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a standalone ZooKeeper 3.8 (Debian's `zookeeper` package) with a client port from
 * `freePort()`, tickTime 200 ms (session timeouts from 400 ms to 60 s are granted), and resolves
 * once `srvr` answers with a `Mode:` line. Retries on a port clash; throws when java or the jar is
 * missing or the server does not serve within 20 s.
 */
export async function startZooKeeper(): Promise<ZkServer> {
  checkInstalled();
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const root = mkdtempSync(join(tmpdir(), 'lockd-zk-'));
    const member = new Member(root, 0, await freePort(), '');
    try {
      await member.launch();
      return member;
    } catch (err) {
      lastError = err;
      await member.stop();
    }
  }
  throw new Error(`zookeeper did not start: ${String(lastError)}`);
}

/**
 * Starts an `n`-member ensemble on loopback (client, quorum and election ports from `freePort()`)
 * and resolves once every member serves (`Mode: leader` or `follower`). Throws as `startZooKeeper`.
 */
export async function startZooKeeperEnsemble(n = 3): Promise<ZkEnsemble> {
  checkInstalled();
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const root = mkdtempSync(join(tmpdir(), 'lockd-zk-ensemble-'));
    const ports = [];
    for (let i = 0; i < n; i++) ports.push({ client: await freePort(), quorum: await freePort(), election: await freePort() });
    const peers = ports.map((p, i) => `server.${i + 1}=127.0.0.1:${p.quorum}:${p.election}`).join('\n');
    const members = ports.map((p, i) => new Member(join(root, `server${i + 1}`), i + 1, p.client, peers));
    const stop = async (): Promise<void> => {
      await Promise.all(members.map((m) => m.stop()));
      rmSync(root, { recursive: true, force: true });
    };
    try {
      await Promise.all(members.map((m) => m.launch()));
      return { connect: members.map((m) => m.connect).join(','), servers: members, stop };
    } catch (err) {
      lastError = err;
      await stop();
    }
  }
  throw new Error(`zookeeper ensemble did not start: ${String(lastError)}`);
}

function checkInstalled(): void {
  requireBinary(javaBinary, 'default-jre-headless');
  try {
    accessSync(zookeeperJar, constants.R_OK);
  } catch {
    throw new Error(`${zookeeperJar} is missing: apt-get install zookeeper, or run \`npm test\`, which installs it`);
  }
}

class Member extends ServerProcess implements ZkServer {
  readonly connect: string;

  constructor(
    dir: string,
    myid: number,
    private readonly clientPort: number,
    peers: string,
  ) {
    super(dir, 'zookeeper', readyTimeoutMs);
    this.connect = `127.0.0.1:${clientPort}`;
    mkdirSync(join(dir, 'data'), { recursive: true });
    if (myid > 0) writeFileSync(join(dir, 'data', 'myid'), `${myid}\n`);
    const config = [
      // Short ticks: sessions expire within a tick of their timeout, and 2-4 s timeouts are granted.
      'tickTime=200',
      'initLimit=25',
      'syncLimit=10',
      'maxSessionTimeout=60000',
      `dataDir=${join(dir, 'data')}`,
      `clientPort=${clientPort}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=srvr,ruok,cons',
      // The data is thrown away after the test; fsync latency would only slow every write.
      'forceSync=no',
      peers,
    ];
    writeFileSync(join(dir, 'zoo.cfg'), `${config.join('\n')}\n`);
  }

  protected command(): { file: string; args: string[] } {
    return {
      file: javaBinary,
      args: [
        '-Xmx256m',
        '-XX:+UseSerialGC',
        '-XX:TieredStopAtLevel=1',
        '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
        '-cp',
        classpath,
        'org.apache.zookeeper.server.quorum.QuorumPeerMain',
        join(this.dir, 'zoo.cfg'),
      ],
    };
  }

  protected async isReady(): Promise<boolean> {
    return /^Mode: /m.test(await fourLetterWord(this.clientPort, 'srvr'));
  }
}

/**
 * Sends a four-letter word (`srvr`, `ruok`, `cons`) and resolves with the whole answer; `''` when
 * the server is not listening or does not answer within a second.
 */
export function fourLetterWord(port: number, word: string): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.end(word));
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
  });
}

/** The ensemble member that serves ZooKeeper session `sessionId` (hex, as lockd logs it), found with `cons`. */
export async function memberServing(ensemble: ZkEnsemble, sessionId: string): Promise<ZkServer> {
  if (sessionId === '') throw new Error('no session id to look for');
  for (const server of ensemble.servers) {
    if ((await fourLetterWord(clientPort(server), 'cons')).includes(`sid=0x${sessionId},`)) return server;
  }
  throw new Error(`no member serves session 0x${sessionId}`);
}

/** The member that is the ensemble's leader, found with `srvr`. */
export async function ensembleLeader(ensemble: ZkEnsemble): Promise<ZkServer> {
  for (const server of ensemble.servers) {
    if ((await fourLetterWord(clientPort(server), 'srvr')).includes('Mode: leader')) return server;
  }
  throw new Error('no member is the ensemble leader');
}

function clientPort(server: ZkServer): number {
  return Number(server.connect.split(':')[1]);
}
