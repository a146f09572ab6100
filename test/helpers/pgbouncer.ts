import { chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { serverUser, type PgServer, type User } from './postgres-server.js';
import { requireBinary } from './require-binary.js';
import { ServerProcess } from './server-process.js';

const pgbouncerBinary = '/usr/sbin/pgbouncer';

/** A PgBouncer in front of a test PostgreSQL; `url` reaches database `lockd` through it. */
export interface PgBouncer {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts Debian's PgBouncer (1.18) on loopback in `mode` pooling with `poolSize` server
 * connections, trust auth, in front of `server`'s database `lockd`, as the `postgres` user when
 * root. Resolves once it accepts connections; throws with its log when it does not within 10 s.
 */
export async function startPgBouncer(server: PgServer, mode: 'session' | 'transaction', poolSize = 1): Promise<PgBouncer> {
  requireBinary(pgbouncerBinary, 'pgbouncer');
  const dir = mkdtempSync(join(tmpdir(), 'lockd-pgbouncer-'));
  const user = serverUser();
  if (user) chownSync(dir, user.uid, user.gid);
  const bouncer = new Bouncer(dir, await freePort(), user);
  writeFileSync(join(dir, 'users.txt'), '"lockd" ""\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `lockd = host=${server.host} port=${server.port} dbname=lockd user=lockd`,
      '[pgbouncer]',
      `listen_addr = 127.0.0.1`,
      `listen_port = ${bouncer.port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      `pool_mode = ${mode}`,
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 200',
      '',
    ].join('\n'),
  );
  try {
    await bouncer.launch();
  } catch (err) {
    await bouncer.stop();
    throw err;
  }
  return { url: `postgres://lockd@127.0.0.1:${bouncer.port}/lockd`, stop: () => bouncer.stop() };
}

class Bouncer extends ServerProcess {
  constructor(
    dir: string,
    readonly port: number,
    private readonly user: User | undefined,
  ) {
    super(dir, 'pgbouncer', 10_000);
  }

  protected command(): ReturnType<ServerProcess['command']> {
    return { file: pgbouncerBinary, args: [join(this.dir, 'pgbouncer.ini')], options: { cwd: this.dir, ...this.user } };
  }

  protected isReady(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect(this.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }
}
