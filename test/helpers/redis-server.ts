import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { freePort } from './ports.js';
import { requireBinary } from './require-binary.js';
import { ServerProcess, type TestServer } from './server-process.js';

/** Debian 12's redis-server (7.0). */
const REDIS_SERVER = '/usr/bin/redis-server';
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const readyTimeoutMs = 30_000;
const host = '127.0.0.1';

/** One redis-server on loopback, its AOF and log in a temp dir; no password. */
export interface RedisServer extends TestServer {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /**
   * Sets the server's wall clock to real time plus `offset`, in libfaketime's syntax (`+1h`,
   * `-30s`, `+0`): not cumulative, each call replaces the previous offset; seen at the server's
   * next clock read (`FAKETIME_NO_CACHE`); CLOCK_MONOTONIC is not faked. Throws unless the server
   * was started with `faketime`.
   */
  stepClock(offset: string): void;
  /** Runs one command on a new connection (for tests that look at or change the server). */
  send(args: string[]): Promise<unknown>;
}

export interface RedisOptions {
  /** Runs the server under libfaketime with this initial offset (e.g. `+0`), so that `stepClock` works. */
  faketime?: string;
}

/**
 * Starts `redis-server` (Debian's `redis-server` package) on a port from `freePort()`, with its
 * files in `mkdtemp(tmpdir()/lockd-redis-)`: `--appendonly yes --appendfsync always --save ''`, so
 * that a SIGKILL and restart keep every acknowledged write. Retries on a port clash; throws when
 * the binary is missing (never a skip: CI must fail) or the server does not answer PING within
 * 30 s. A test process that exits leaves no server behind; `stop()` removes the files.
 */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  requireBinary(REDIS_SERVER, 'redis-server');
  if (opts.faketime !== undefined) requireBinary(LIBFAKETIME, 'faketime', 'load');
  const dir = mkdtempSync(join(tmpdir(), 'lockd-redis-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const server = new Server(dir, await freePort(), opts.faketime);
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
  private readonly clockFile: string | undefined;

  constructor(
    dir: string,
    readonly port: number,
    faketime: string | undefined,
  ) {
    super(dir, 'redis', readyTimeoutMs);
    this.url = `redis://${host}:${port}`;
    if (faketime !== undefined) {
      this.clockFile = join(dir, 'faketime');
      this.stepClock(faketime);
    }
  }

  protected command(): ReturnType<ServerProcess['command']> {
    const args = ['--port', String(this.port), '--bind', host, '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
    const faketime =
      this.clockFile === undefined
        ? {}
        : { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: this.clockFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
    return { file: REDIS_SERVER, args, options: { cwd: this.dir, env: { ...process.env, ...faketime } } };
  }

  protected isReady(): Promise<boolean> {
    return this.send(['PING']).then(
      (reply) => reply === 'PONG',
      () => false,
    );
  }

  stepClock(offset: string): void {
    if (this.clockFile === undefined) throw new Error('stepClock needs a server started with opts.faketime');
    // A rename, so that no clock read sees a half-written file.
    writeFileSync(`${this.clockFile}.new`, `${offset}\n`);
    renameSync(`${this.clockFile}.new`, this.clockFile);
  }

  /** One command on a new connection; rejects when it cannot connect within a second. */
  async send(args: string[]): Promise<unknown> {
    const client = createClient({ url: this.url, RESP: 2, disableOfflineQueue: true, socket: { connectTimeout: 1000, reconnectStrategy: false } });
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
}
