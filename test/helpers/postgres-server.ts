import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';
import { descendants, processState, signalEach, stillRunning, type ProcessRef } from './process-tree.js';
import { requireBinary } from './require-binary.js';
import { ServerProcess, type TestServer } from './server-process.js';
import { waitFor } from './wait-for.js';

/** Debian 12's layout; the /usr/local/bin symlinks some machines have are not relied on. */
const pgBin = '/usr/lib/postgresql/15/bin';
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const readyTimeoutMs = 30_000;
/** A fast shutdown ends with a checkpoint (fsync on): give it time on a busy machine. */
const shutdownTimeoutMs = 60_000;
const host = '127.0.0.1';

/**
 * One PostgreSQL 15 server on loopback, in a temp dir (data dir, Unix socket, log), with a
 * superuser role `lockd` and a database `lockd`, trust authentication and no password.
 */
export interface PgServer extends TestServer {
  /** `postgres://lockd@127.0.0.1:PORT/lockd` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The data dir (`<temp dir>/data`); `stop()` removes the temp dir with it. */
  readonly dataDir: string;
  /**
   * Without `mode`: SIGKILL of the postmaster and every backend, then a start on the same data
   * dir and port (crash recovery). `fast` / `immediate`: the shutdown of `pg_ctl stop -m fast` /
   * `-m immediate` (SIGINT / SIGQUIT to the postmaster), waited for, then the start. Resolves when
   * the server answers queries again; throws with the log's tail when it does not within 30 s.
   * Works after `kill9()` too: the orphaned backends are killed and waited for first.
   */
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  /**
   * Sets the server's wall clock to real time plus `offset`, in libfaketime's syntax (`+30s`,
   * `-15`, `+1h`, `+0`): not cumulative, each call replaces the previous offset. Every process of
   * the server sees it at its next clock read (`FAKETIME_NO_CACHE`); CLOCK_MONOTONIC is not faked.
   * Throws unless the server was started with `faketime`.
   */
  stepClock(offset: string): void;
}

export interface PostgresOptions {
  /**
   * Runs the server under libfaketime (Debian `faketime`) with this initial offset (libfaketime
   * syntax, e.g. `+0`, `-30s`), so that `stepClock` can move its wall clock later.
   */
  faketime?: string;
  /** More `-c name=value` settings for the postmaster, e.g. `ssl=on`. */
  settings?: string[];
}

/**
 * Starts PostgreSQL 15 (Debian's `postgresql`) on a port from `freePort()`: `initdb` (with `lockd`
 * as the bootstrap superuser) into `mkdtemp(tmpdir()/lockd-pg-)`, the postmaster with `fsync=on`,
 * `synchronous_commit=on`, `max_connections=200`, `shared_buffers=32MB`, its Unix socket in the
 * temp dir and its log in `postgres.log` there, then `CREATE DATABASE lockd`. As root, every server program runs as the
 * `postgres` user (PostgreSQL refuses root), which then owns the temp dir. Retries on a port clash;
 * throws when a binary is missing (never a skip: CI must fail) or the server does not answer a
 * query within 30 s. A test process that exits leaves no server behind; `stop()` removes the files.
 */
export async function startPostgres(opts: PostgresOptions = {}): Promise<PgServer> {
  requireBinary(join(pgBin, 'initdb'), 'postgresql');
  if (opts.faketime !== undefined) requireBinary(LIBFAKETIME, 'faketime', 'load');
  return start('postgres', initdb, (server) => server.query('postgres', 'CREATE DATABASE lockd'), opts);
}

/**
 * Starts a streaming hot standby of `primary` (a server of `startPostgres`) on another port, in its
 * own temp dir: `pg_basebackup -R -X stream` as `lockd`, then the same settings as the primary.
 * Resolves once it answers read-only queries; throws as `startPostgres`, or when the base backup
 * fails. Stop it before the primary (a stopped primary leaves it retrying, which is harmless).
 */
export async function startPostgresStandby(primary: PgServer): Promise<PgServer> {
  requireBinary(join(pgBin, 'pg_basebackup'), 'postgresql');
  const backup = async (dir: string, user: User | undefined): Promise<void> => {
    const source = ['-h', host, '-p', String(primary.port), '-U', 'lockd'];
    await run('pg_basebackup', [...source, '-D', join(dir, 'data'), '-R', '-X', 'stream', '--checkpoint=fast', '--no-sync'], dir, user);
  };
  return start('standby', backup, async () => undefined, {});
}

/**
 * The common start: a temp dir (owned by the server's user), `prepare` to fill its data dir, then
 * the postmaster on a free port, with up to 4 ports tried; `ready` runs once after the first start.
 */
async function start(
  what: string,
  prepare: (dir: string, user: User | undefined) => Promise<void>,
  ready: (server: Server) => Promise<void>,
  opts: PostgresOptions,
): Promise<Server> {
  requireBinary(join(pgBin, 'postgres'), 'postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'lockd-pg-'));
  const user = serverUser();
  let lastError: unknown;
  try {
    if (user) chownSync(dir, user.uid, user.gid);
    await prepare(dir, user);
    for (let attempt = 0; attempt < 4; attempt++) {
      const server = new Server(dir, await freePort(), user, opts);
      try {
        await server.launch();
        await ready(server);
        return server;
      } catch (err) {
        lastError = err;
        await server.kill();
      }
    }
  } catch (err) {
    lastError = err;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`${what} did not start: ${String(lastError)}`);
}

/** Runs one of PostgreSQL's programs as the server's user, in `dir`; throws with its stderr when it fails. */
async function run(program: string, args: string[], dir: string, user: User | undefined): Promise<void> {
  try {
    await promisify(execFile)(join(pgBin, program), args, { cwd: dir, ...user });
  } catch (err) {
    throw new Error(`${program} failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
}

export interface User {
  uid: number;
  gid: number;
}

/** The `postgres` user when this process is root (PostgreSQL will not run as root); else none. */
/** The `postgres` user when running as root (PostgreSQL and PgBouncer refuse root), else undefined. */
export function serverUser(): User | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** `initdb` with `lockd` as the bootstrap superuser and trust authentication on loopback only. */
async function initdb(dir: string, user: User | undefined): Promise<void> {
  const data = join(dir, 'data');
  const args = ['-D', data, '-U', 'lockd', '--auth=trust', '--no-locale', '-E', 'UTF8', '--no-sync', '--no-instructions'];
  await run('initdb', args, dir, user);
  const hba = join(data, 'pg_hba.conf');
  writeFileSync(
    hba,
    ['local all all trust', `host all all ${host}/32 trust`, `host replication all ${host}/32 trust`, ''].join('\n'),
  );
  if (user) chownSync(hba, user.uid, user.gid);
}

class Server extends ServerProcess implements PgServer {
  readonly url: string;
  readonly host = host;
  readonly dataDir: string;
  /** Backends left running by `kill9` (they exit on their own once they see the postmaster gone). */
  private orphans: ProcessRef[] = [];
  private frozen: ProcessRef[] = [];
  private readonly clockFile: string | undefined;

  constructor(
    dir: string,
    readonly port: number,
    private readonly user: User | undefined,
    private readonly opts: PostgresOptions,
  ) {
    super(dir, 'postgres', readyTimeoutMs);
    this.url = `postgres://lockd@${host}:${port}/lockd`;
    this.dataDir = join(dir, 'data');
    if (opts.faketime !== undefined) {
      this.clockFile = join(dir, 'faketime');
      this.stepClock(opts.faketime);
    }
  }

  protected command(): ReturnType<ServerProcess['command']> {
    const settings = [
      `port=${this.port}`,
      `listen_addresses=${host}`,
      `unix_socket_directories=${this.dir}`,
      'fsync=on',
      'synchronous_commit=on',
      'max_connections=200',
      'shared_buffers=32MB',
      'log_line_prefix=%m [%p] ',
      ...(this.opts.settings ?? []),
    ];
    const faketime =
      this.clockFile === undefined
        ? {}
        : { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: this.clockFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
    return {
      file: join(pgBin, 'postgres'),
      args: ['-D', this.dataDir, ...settings.flatMap((s) => ['-c', s])],
      options: { cwd: this.dir, env: { ...process.env, ...faketime }, ...this.user },
    };
  }

  protected isReady(): Promise<boolean> {
    return this.query('postgres', 'SELECT 1').then(
      () => true,
      () => false,
    );
  }

  /** Runs `sql` on a new connection to `database` as `lockd`; rejects when it cannot connect within a second. */
  async query(database: string, sql: string): Promise<void> {
    const client = new pg.Client({ host, port: this.port, user: 'lockd', database, connectionTimeoutMillis: 1000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query(sql);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  stepClock(offset: string): void {
    if (this.clockFile === undefined) throw new Error('stepClock needs a server started with opts.faketime');
    // A rename, so that no clock read sees a half-written file.
    writeFileSync(`${this.clockFile}.new`, `${offset}\n`);
    renameSync(`${this.clockFile}.new`, this.clockFile);
  }

  /** SIGSTOP of the postmaster, then of every backend: existing connections get no answer either. */
  override freeze(): void {
    if (!this.isRunning()) return;
    this.frozen = this.stopPostmaster();
    signalEach(this.frozen, 'SIGSTOP');
  }

  /** SIGCONT of the backends frozen by `freeze`, then of the postmaster. */
  override thaw(): void {
    signalEach(this.frozen, 'SIGCONT');
    this.frozen = [];
    if (this.isRunning()) process.kill(this.pid, 'SIGCONT');
  }

  /** SIGKILL of the postmaster only, as in a crash of it; its backends are killed by `restart` or `stop`. */
  override kill9(): void {
    if (!this.isRunning()) return;
    this.orphans.push(...this.stopPostmaster());
    process.kill(this.pid, 'SIGKILL');
  }

  override async restart(mode?: 'fast' | 'immediate'): Promise<void> {
    if (mode !== undefined && this.isRunning()) {
      this.thaw();
      process.kill(this.pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
      await waitFor(`postgres ${mode} shutdown`, () => !this.isRunning(), shutdownTimeoutMs, 50);
    }
    await this.kill();
    await this.launch();
  }

  /** SIGKILL of the postmaster and every backend (orphans of `kill9` too); resolves when all are gone. */
  override async kill(): Promise<void> {
    if (this.isRunning()) this.orphans.push(...this.stopPostmaster());
    await super.kill();
    const orphans = this.orphans;
    signalEach(orphans, 'SIGKILL');
    await waitFor('the backends of a killed postmaster to exit', () => !orphans.some(stillRunning), 10_000);
    this.orphans = [];
    this.frozen = [];
  }

  override killNow(): void {
    if (this.isRunning()) this.orphans.push(...this.stopPostmaster());
    super.killNow();
    signalEach(this.orphans, 'SIGKILL');
  }

  /**
   * SIGSTOPs the postmaster, waits (briefly, synchronously) until it is stopped so that it forks
   * no more, and returns its descendants then.
   */
  private stopPostmaster(): ProcessRef[] {
    const pid = this.pid;
    process.kill(pid, 'SIGSTOP');
    const deadline = performance.now() + 1000;
    while (!['T', 'Z', ''].includes(processState(pid)) && performance.now() < deadline);
    return descendants(pid);
  }
}
