import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { after, afterEach, before } from 'node:test';
import { pino, type Logger } from 'pino';
import type { Backend } from '../../src/election/backend.js';
import { createZooKeeperBackend } from '../../src/election/zookeeper/zookeeper-backend.js';
import { startZooKeeper, type ZkServer } from '../helpers/zookeeper-server.js';
import { CuratorPeer, compileCuratorPeer } from '../interop/curator/curator-peer.js';

/** One parsed pino line. */
export type LogLine = { level: number; msg: string } & Record<string, unknown>;

/**
 * A debug-level pino logger whose JSON lines are parsed and kept, so a test can wait for what the
 * backend reports (e.g. the session id, a timed-out create) instead of reading the console.
 */
export class LogSink {
  readonly lines: LogLine[] = [];
  readonly logger: Logger;
  private readonly waiters = new Set<() => void>();

  constructor() {
    const stream = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        for (const text of chunk.toString().split('\n')) {
          if (text.trim() !== '') this.lines.push(JSON.parse(text) as LogLine);
        }
        for (const wake of [...this.waiters]) wake();
        done();
      },
    });
    this.logger = pino({ level: 'debug' }, stream);
  }

  /** The first line (already logged or still to come) matching `match`; rejects after `timeoutMs`. */
  next(match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    const found = this.lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const line = this.lines.find(match);
        if (!line) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(line);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching log line within ${timeoutMs} ms; got:\n${this.lines.map((l) => l.msg).join('\n')}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** The id (hex) of the newest ZooKeeper session the backend reported. */
  lastSessionId(): string | undefined {
    const line = this.lines.filter((l) => l.msg === 'zookeeper session established').at(-1);
    return typeof line?.sessionId === 'string' ? line.sessionId : undefined;
  }
}

/**
 * Runs `sample` about every 10 ms until `stop()`, keeping each violation it reports: how the
 * failover tests check "never two leaders" at every sampled moment rather than at the end.
 */
export class Sampler {
  private readonly violations: string[] = [];
  private samples = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(sample: () => string | undefined | Promise<string | undefined>) {
    this.loop = (async () => {
      while (this.running) {
        this.samples++;
        const violation = await sample();
        if (violation !== undefined) this.violations.push(violation);
        await delay(10);
      }
    })();
  }

  async stop(): Promise<{ violations: string[]; samples: number }> {
    this.running = false;
    await this.loop;
    return { violations: this.violations, samples: this.samples };
  }
}

/** What `curatorFixture` gives a test: lockd backends and Curator peers on one ZooKeeper server. */
export interface CuratorFixture {
  /** A lockd ZooKeeper backend of `cluster` (session timeout `ttlMs`), closed after the test. */
  backend(cluster: string): Promise<Backend>;
  /** A running Curator 5 peer (test/interop/curator), stopped after the test. */
  curator(): Promise<CuratorPeer>;
}

/**
 * Registers, in the calling `describe`, a ZooKeeper server and the compiled Curator peer for the
 * whole suite (`before`/`after`), and closes every backend and peer a test made (`afterEach`).
 */
export function curatorFixture(ttlMs: number): CuratorFixture {
  let server: ZkServer | undefined;
  let peerClasses: Awaited<ReturnType<typeof compileCuratorPeer>> | undefined;
  const backends: Backend[] = [];
  const peers: CuratorPeer[] = [];
  before(async () => {
    [server, peerClasses] = await Promise.all([startZooKeeper(), compileCuratorPeer()]);
  });
  after(async () => {
    peerClasses?.remove();
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.allSettled(peers.splice(0).map((p) => p.stop()));
    await Promise.allSettled(backends.splice(0).map((b) => b.close()));
  });
  return {
    backend: async (cluster) => {
      const b = await createZooKeeperBackend({ type: 'zookeeper', connect: server!.connect }, { cluster, ttlMs, logger: new LogSink().logger });
      backends.push(b);
      return b;
    },
    curator: async () => {
      const peer = await CuratorPeer.start(peerClasses!.classDir, server!.connect, ttlMs);
      peers.push(peer);
      return peer;
    },
  };
}
