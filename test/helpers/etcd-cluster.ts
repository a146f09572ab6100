import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { requireBinary } from './require-binary.js';
import { endpointHealthy, etcdBinary, etcdctl, etcdctlBinary } from './etcdctl.js';
import { ServerProcess, type TestServer } from './server-process.js';

const readyTimeoutMs = 10_000;

/** One member of a test etcd cluster; `restart` keeps its data dir and ports, so it rejoins. */
export interface EtcdMember extends TestServer {
  /** `m1`, `m2`, … */
  readonly name: string;
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  /** Whether `etcdctl endpoint health` passes on this member (it serves linearizable reads). */
  healthy(): Promise<boolean>;
}

/** A multi-member etcd on loopback; `endpoints` lists every member's client URL. */
export interface EtcdCluster {
  readonly endpoints: string[];
  readonly members: EtcdMember[];
  /**
   * The member that is raft leader, by `etcdctl endpoint status` asked of every member (a dead or
   * frozen one does not answer; the others name the leader). Throws when no answering member
   * knows a leader within ~2 s.
   */
  leader(): Promise<EtcdMember>;
  /** Stops every member and removes the cluster's files. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts an `n`-member etcd 3.4 cluster (Debian's etcd-server) on 127.0.0.1 with client and peer
 * ports from `freePort()`, each member in its own temp data dir, and resolves once every member
 * passes `etcdctl endpoint health` (which needs a quorum, so the members start together). Heartbeat
 * 50 ms and election timeout 500 ms: a lost raft leader is replaced within about a second, as in a
 * production cluster scaled to the tests' short TTLs. Retries with new ports on a clash; throws
 * when the binaries are missing or the cluster is not healthy within 10 s.
 */
export async function startEtcdCluster(n = 3): Promise<EtcdCluster> {
  requireBinary(etcdBinary, 'etcd-server');
  requireBinary(etcdctlBinary, 'etcd-client');
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const root = mkdtempSync(join(tmpdir(), 'lockd-etcd-cluster-'));
    const ports: Array<{ client: number; peer: number }> = [];
    for (let i = 0; i < n; i++) ports.push({ client: await freePort(), peer: await freePort() });
    const initialCluster = ports.map((p, i) => `m${i + 1}=http://127.0.0.1:${p.peer}`).join(',');
    // A token of its own, so a member can never join another test's cluster on a reused port.
    const token = `lockd-${randomBytes(6).toString('hex')}`;
    const members = ports.map((p, i) => new Member(join(root, `m${i + 1}`), `m${i + 1}`, p.client, p.peer, initialCluster, token));
    const cluster = new Cluster(root, members);
    try {
      await Promise.all(members.map((m) => m.launch()));
      return cluster;
    } catch (err) {
      lastError = err;
      await cluster.stop();
    }
  }
  throw new Error(`etcd cluster did not start: ${String(lastError)}`);
}

class Cluster implements EtcdCluster {
  readonly endpoints: string[];

  constructor(
    private readonly root: string,
    readonly members: Member[],
  ) {
    this.endpoints = members.map((m) => m.endpoint);
  }

  async leader(): Promise<EtcdMember> {
    const deadline = performance.now() + 2000;
    for (;;) {
      const statuses = (await Promise.all(this.members.map((m) => m.status()))).filter((s) => s !== undefined);
      const leaderId = statuses.find((s) => s.leader !== '0')?.leader;
      const leader = statuses.find((s) => s.memberId === leaderId);
      if (leader) return this.members.find((m) => m.endpoint === leader.endpoint)!;
      if (performance.now() > deadline) throw new Error(`no etcd member knows a leader: ${JSON.stringify(statuses)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }
}

class Member extends ServerProcess implements EtcdMember {
  readonly endpoint: string;

  constructor(
    dir: string,
    readonly name: string,
    clientPort: number,
    private readonly peerPort: number,
    private readonly initialCluster: string,
    private readonly token: string,
  ) {
    super(dir, 'etcd', readyTimeoutMs);
    mkdirSync(dir, { recursive: true });
    this.endpoint = `http://127.0.0.1:${clientPort}`;
  }

  /** This member's id and the leader id it knows ('0': none), or undefined when it does not answer. */
  async status(): Promise<{ endpoint: string; memberId: string; leader: string } | undefined> {
    const stdout = await etcdctl(this.endpoint, ['--command-timeout=500ms', '--dial-timeout=500ms', 'endpoint', 'status', '-w', 'json'], 2000);
    // Member ids are uint64: read them as digit strings, not as (rounded) JS numbers.
    const memberId = stdout === undefined ? undefined : /"member_id":(\d+)/.exec(stdout)?.[1];
    const leader = stdout === undefined ? undefined : /"leader":(\d+)/.exec(stdout)?.[1];
    return memberId === undefined || leader === undefined ? undefined : { endpoint: this.endpoint, memberId, leader };
  }

  protected command(): { file: string; args: string[] } {
    const peer = `http://127.0.0.1:${this.peerPort}`;
    return {
      file: etcdBinary,
      args: [
        `--name=${this.name}`,
        `--data-dir=${join(this.dir, 'data')}`,
        `--listen-client-urls=${this.endpoint}`,
        `--advertise-client-urls=${this.endpoint}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        // Read only on the first start; a restart finds the cluster in its data dir.
        `--initial-cluster=${this.initialCluster}`,
        `--initial-cluster-token=${this.token}`,
        '--initial-cluster-state=new',
        '--heartbeat-interval=50',
        '--election-timeout=500',
        '--logger=zap',
        '--log-level=warn',
      ],
    };
  }

  protected isReady(): Promise<boolean> {
    return this.healthy();
  }

  healthy(): Promise<boolean> {
    return endpointHealthy(this.endpoint);
  }
}
