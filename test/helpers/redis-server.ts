import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { freePort } from './ports.js';
import { requireBinary } from './require-binary.js';
import { ServerProcess, type TestServer } from './server-process.js';

/** Debian 12's redis-server (7.0). */
const REDIS_SERVER = '/usr/bin/redis-server';
const readyTimeoutMs = 30_000;
const host = '127.0.0.1';

/** How `startRedis` runs the server (default: AOF with fsync always, no TLS). */
export interface RedisServerOptions {
  /** `false`: no AOF and no RDB snapshots (`--appendonly no --save ''`), so a restart loses every key. */
  persistence?: boolean;
  /** Serve TLS only (`--port 0 --tls-port PORT`) with these PEM files; `authClients`: require a client certificate. */
  tls?: { cert: string; key: string; ca: string; authClients: boolean };
}

/** One redis-server on loopback, its AOF and log in a temp dir; no password. */
export interface RedisServer extends TestServer {
  /** `redis://127.0.0.1:PORT`, or `rediss://` with `tls` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Runs one command on a new connection (for tests that look at or change the server). */
  send(args: string[]): Promise<unknown>;
  /** Kills the server, deletes its data (the AOF) and starts it again empty on the same port: a restart that lost everything. */
  restartEmpty(): Promise<void>;
}

/**
 * Starts `redis-server` (Debian's `redis-server` package) on a port from `freePort()`, with its
 * files in `mkdtemp(tmpdir()/lockd-redis-)`: `--appendonly yes --appendfsync always --save ''`, so
 * that a SIGKILL and restart keep every acknowledged write (or, with `persistence: false`, nothing),
 * over TLS only when `tls` is given, and `--set-proc-title no` (the command
 * line stays visible to `pkill -f`). No libfaketime option: redis-server 7.0 (its jemalloc reads the
 * clock while libfaketime initializes) does not start under it (recursive clock_gettime). Retries on a port clash; throws when
 * the binary is missing (never a skip: CI must fail) or the server does not answer PING within
 * 30 s. A test process that exits leaves no server behind; `stop()` removes the files.
 */
export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  requireBinary(REDIS_SERVER, 'redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'lockd-redis-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const server = new Server(dir, await freePort(), opts);
    try {
      await server.launch();
      return server;
    } catch (err) {
      lastError = err;
      await server.kill();
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`redis-server did not start: ${String(lastError)}`);
}

class Server extends ServerProcess implements RedisServer {
  readonly url: string;
  readonly host = host;

  constructor(
    dir: string,
    readonly port: number,
    private readonly opts: RedisServerOptions,
  ) {
    super(dir, 'redis', readyTimeoutMs);
    this.url = `${opts.tls ? 'rediss' : 'redis'}://${host}:${port}`;
  }

  protected command(): ReturnType<ServerProcess['command']> {
    const { tls } = this.opts;
    const ports = tls
      ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', tls.authClients ? 'yes' : 'no']
      : ['--port', String(this.port)];
    const persistence = this.opts.persistence === false ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'always'];
    const args = [...ports, '--bind', host, '--dir', this.dir, ...persistence, '--save', ''];
    // Keep argv as the process title, so that scripts/test-all.sh finds a leftover by its --dir.
    args.push('--set-proc-title', 'no');
    return { file: REDIS_SERVER, args, options: { cwd: this.dir } };
  }

  protected isReady(): Promise<boolean> {
    return this.send(['PING']).then(
      (reply) => reply === 'PONG',
      () => false,
    );
  }

  async restartEmpty(): Promise<void> {
    await this.kill();
    rmSync(join(this.dir, 'appendonlydir'), { recursive: true, force: true });
    await this.restart();
  }

  /** One command on a new connection; rejects when it cannot connect within a second. */
  async send(args: string[]): Promise<unknown> {
    const { tls } = this.opts;
    return sendOnce(this.url, args, tls && { ca: readFileSync(tls.ca, 'utf8'), cert: readFileSync(tls.cert, 'utf8'), key: readFileSync(tls.key, 'utf8') });
  }
}

/**
 * Sends one command to the Redis server (or sentinel) at `url` on a connection of its own, closed
 * after; rejects when it cannot connect within a second. `tls`: PEM contents for a `rediss://` url.
 */
export async function sendOnce(url: string, args: string[], tls?: { ca: string; cert: string; key: string }): Promise<unknown> {
  const client = createClient({ url, RESP: 2, disableOfflineQueue: true, socket: { connectTimeout: 1000, reconnectStrategy: false, ...tls } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.sendCommand(args);
  } finally {
    try {
      client.destroy();
    } catch {
      // already closed
    }
  }
}
