import type { Logger } from 'pino';
import { stringify } from 'yaml';
import { parseConfig } from '../config/load.js';
import type { BackendConfig } from '../config/types.js';
import { ConfigError } from '../errors.js';

/** TLS to etcd or PostgreSQL: PEM files. */
export interface TlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
}

/** The `backend` section of lockd.yaml, as an object; the same keys, defaults and checks. */
export type BackendOptions =
  | { type: 'embedded'; path?: string }
  | { type: 'etcd'; endpoints: string[]; username?: string; password?: string; tls?: TlsOptions }
  | { type: 'zookeeper'; connect: string; auth?: { scheme?: 'digest'; credentials: string } }
  | { type: 'postgres'; url: string; schema?: string; tls?: TlsOptions }
  | { type: 'redis'; url: string }
  | { type: 'redis'; sentinel: { master: string; nodes: string[]; username?: string; password?: string; min_replicas_ack?: number } };

/** What `connect()` takes. */
export interface ConnectOptions {
  /** The cluster: locks and leadership are shared by everyone connected to the same one. */
  cluster: string;
  /** This process's name in holder info and `lockd locks`; default `<hostname>-<pid>`. */
  node?: string;
  /** Default: the embedded backend on `./lockd.db`. */
  backend?: BackendOptions;
  /** The lease TTL, e.g. `'10s'` or a number of milliseconds; default 10 s. */
  ttl?: string | number;
  /** A pino logger for lockd's own log lines; default: silent. */
  logger?: Logger;
}

/** The options checked by the loader of lockd.yaml. */
export interface ResolvedOptions {
  cluster: string;
  node: string;
  backend: BackendConfig;
  ttlMs: number;
}

const WHERE = 'connect() options';

/**
 * Checks `options` with the very schema `lockd.yaml` is read with, by rendering them as that file
 * would spell them. Throws `ConfigError` listing every problem, each naming the offending line of
 * the rendering (`connect() options:3:14: ... (at "endpoints: []")`). Strings are taken as
 * given (a `${VAR}` in them is not expanded, so it is reported as unset).
 */
export function resolveConnectOptions(options: ConnectOptions): ResolvedOptions {
  const { cluster, node, backend, ttl } = options;
  const document = {
    cluster,
    ...(node === undefined ? {} : { node }),
    ...(backend === undefined ? {} : { backend }),
    ...(ttl === undefined ? {} : { leader: { ttl: typeof ttl === 'number' ? `${ttl}ms` : ttl } }),
  };
  const text = stringify(document);
  try {
    const config = parseConfig(text, WHERE, {}, 'api');
    return { cluster: config.cluster, node: config.node, backend: config.backend, ttlMs: config.leader.ttlMs };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const lines = text.split('\n');
    throw new ConfigError(err.problems.map((p) => ({ ...p, message: `${p.message} (at "${lines[p.line - 1]?.trim() ?? ''}")` })));
  }
}
