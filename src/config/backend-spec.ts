import type { EnumSpec, IntegerSpec, ListSpec, MappingSpec, StringSpec, VariantsSpec } from './spec.js';

const TLS = {
  kind: 'mapping',
  description: 'TLS to etcd, PostgreSQL or Redis (rediss://): CA bundle, and a client certificate with its key',
  keys: {
    ca: { kind: 'string', description: 'PEM file of the CA(s) that signed the servers\' certificates' } satisfies StringSpec,
    cert: { kind: 'string', description: 'PEM file of the client certificate (set with key)' } satisfies StringSpec,
    key: { kind: 'string', description: 'PEM file of the client certificate\'s private key (set with cert)' } satisfies StringSpec,
  },
  together: [['cert', 'key']],
} as const satisfies MappingSpec;

const SENTINEL = {
  kind: 'mapping',
  description: 'Redis Sentinel: lockd asks the sentinels for the current primary before every connect',
  keys: {
    master: { kind: 'string', description: 'The master name the sentinels monitor (sentinel monitor <name> ...)' } satisfies StringSpec,
    nodes: {
      kind: 'list',
      minItems: 1,
      items: { kind: 'string', description: 'host:port of a sentinel' } satisfies StringSpec,
      description: 'The sentinels, e.g. 10.0.0.1:26379',
    } satisfies ListSpec,
    username: { kind: 'string', description: 'ACL user of the primary and replicas (not of the sentinels)' } satisfies StringSpec,
    password: { kind: 'string', description: 'Password of the primary and replicas; only through ${VAR}' } satisfies StringSpec,
    min_replicas_ack: {
      kind: 'integer',
      min: 0,
      max: 100,
      default: 0,
      description: 'Replicas that must confirm each write (WAIT) before it counts; 0 = none',
    } satisfies IntegerSpec,
  },
  required: ['master', 'nodes'],
} as const satisfies MappingSpec;

const AUTH = {
  kind: 'mapping',
  description: 'ZooKeeper authentication',
  keys: {
    scheme: { kind: 'enum', values: ['digest'], default: 'digest', description: 'The ZooKeeper auth scheme' } satisfies EnumSpec<'digest'>,
    credentials: { kind: 'string', description: 'user:password for the digest scheme' } satisfies StringSpec,
  },
  required: ['credentials'],
} as const satisfies MappingSpec;

/** `backend` (DESIGN §7): which keys are allowed depends on `type`. */
export const BACKEND_SPEC = {
  kind: 'variants',
  tag: 'type',
  description: 'Where leases, locks and run records live (default: embedded, ./lockd.db)',
  variants: {
    embedded: {
      kind: 'mapping',
      description: 'One SQLite file, shared safely by many processes on one host',
      keys: {
        path: { kind: 'string', default: './lockd.db', description: 'The SQLite file, relative to the working directory' } satisfies StringSpec,
      },
    },
    etcd: {
      kind: 'mapping',
      description: 'An etcd v3 cluster',
      keys: {
        endpoints: {
          kind: 'list',
          minItems: 1,
          items: { kind: 'string', description: 'http(s)://host:port, no path' } satisfies StringSpec,
          description: 'The etcd endpoints, e.g. http://10.0.0.1:2379',
        } satisfies ListSpec,
        username: { kind: 'string', description: 'etcd user (set with password)' } satisfies StringSpec,
        password: { kind: 'string', description: 'etcd password (set with username); use ${VAR}' } satisfies StringSpec,
        tls: TLS,
      },
      required: ['endpoints'],
      together: [['username', 'password']],
    },
    zookeeper: {
      kind: 'mapping',
      description: 'A ZooKeeper ensemble',
      keys: {
        connect: { kind: 'string', description: 'host:port[,host:port...][/chroot], e.g. zk1:2181,zk2:2181/lockd' } satisfies StringSpec,
        auth: AUTH,
      },
      required: ['connect'],
    },
    postgres: {
      kind: 'mapping',
      description: 'A PostgreSQL database (12 or later; a primary, not a standby)',
      keys: {
        url: {
          kind: 'string',
          description: 'postgres://user[:${PASSWORD}]@host:port/db[?sslmode=...]; a password only through ${VAR}',
        } satisfies StringSpec,
        schema: {
          kind: 'string',
          default: 'lockd',
          pattern: '^[a-z_][a-z0-9_]{0,62}$',
          description: 'The schema lockd creates and migrates its tables in',
        } satisfies StringSpec,
        tls: TLS,
      },
      required: ['url'],
    },
    redis: {
      kind: 'mapping',
      description: 'One Redis primary, by url or through Sentinel (7.0 or later; appendonly yes and appendfsync always, or a crash may lose run records)',
      keys: {
        url: {
          kind: 'string',
          description: 'redis://[user:${PASSWORD}@]host:port[/db], rediss:// for TLS; a password only through ${VAR}',
        } satisfies StringSpec,
        sentinel: SENTINEL,
        redlock: {
          kind: 'list',
          minItems: 3,
          items: { kind: 'string', description: 'redis://[user:${PASSWORD}@]host:port[/db] of one independent primary' } satisfies StringSpec,
          description: 'Redlock: 3 or 5 independent primaries (odd, at least 3); each operation counts on a majority',
        } satisfies ListSpec,
        tls: TLS,
      },
      exactlyOne: [['url', 'sentinel', 'redlock']],
    },
  },
} as const satisfies VariantsSpec;
