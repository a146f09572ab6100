import { isScalar } from 'yaml';
import { LockdError } from '../errors.js';
import { BACKEND_SPEC } from './backend-spec.js';
import { parseHostPort } from './host-port.js';
import { keyNames, variantNames, type MappingSpec } from './spec.js';
import type { BackendConfig } from './types.js';
import type { ConfigReader, Entry } from './yaml-reader.js';

const SPEC = BACKEND_SPEC.variants;
const TYPES = variantNames(BACKEND_SPEC);

/** Used when the file has no `backend`: a SQLite file in the working directory. */
export const DEFAULT_BACKEND: BackendConfig = { type: 'embedded', path: SPEC.embedded.keys.path.default };

/**
 * Reads `backend` (DESIGN §7). An absent or empty `backend` is `DEFAULT_BACKEND`. Which keys
 * are allowed depends on `type`, so unknown keys are only reported once the type is known.
 * Returns undefined only after recording a problem.
 */
export function readBackend(reader: ConfigReader, entry: Entry | undefined): BackendConfig | undefined {
  if (entry?.value === undefined) return { ...DEFAULT_BACKEND };
  const fields = reader.mapping(entry);
  if (fields === undefined) return undefined;
  const { tag } = BACKEND_SPEC;
  const type = reader.oneOf(reader.require(fields, tag, entry, 'backend: '), TYPES);
  if (type === undefined) return undefined;
  reader.rejectUnknown(fields, [tag, ...keyNames(SPEC[type])]);
  switch (type) {
    case 'embedded':
      return readEmbedded(reader, fields);
    case 'etcd':
      return readEtcd(reader, fields, entry);
    case 'zookeeper':
      return readZooKeeper(reader, fields, entry);
    case 'postgres':
      return readPostgres(reader, fields, entry);
    case 'redis':
      return readRedis(reader, fields, entry);
  }
}

function readEmbedded(reader: ConfigReader, fields: Map<string, Entry>): BackendConfig | undefined {
  const path = nonEmpty(reader, fields.get('path'));
  return path === null ? undefined : { type: 'embedded', path: path ?? SPEC.embedded.keys.path.default };
}

function readEtcd(reader: ConfigReader, fields: Map<string, Entry>, parent: Entry): BackendConfig | undefined {
  const listEntry = reader.require(fields, 'endpoints', parent, 'backend: ');
  const items = reader.list(listEntry);
  if (listEntry?.value !== undefined && items?.length === 0) {
    reader.reportValue(listEntry, 'expected at least one endpoint');
  }
  const endpoints = (items ?? []).map((item) => checked(reader, item, reader.string(item), checkEndpoint));
  const username = reader.string(fields.get('username'));
  const password = reader.string(fields.get('password'));
  bothOrNeither(reader, fields, SPEC.etcd, '');
  const tls = readTls(reader, fields.get('tls'));
  if (endpoints.length === 0 || endpoints.some((e) => e === undefined)) return undefined;
  return {
    type: 'etcd',
    endpoints: endpoints as string[],
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(tls === undefined ? {} : { tls }),
  };
}

function readPostgres(reader: ConfigReader, fields: Map<string, Entry>, parent: Entry): BackendConfig | undefined {
  const urlEntry = reader.require(fields, 'url', parent, 'backend: ');
  const url = checked(reader, urlEntry, reader.string(urlEntry), checkPostgresUrl);
  if (urlEntry !== undefined && reader.origin === 'file') rejectLiteralPassword(reader, urlEntry, 'postgres://lockd:${PGPASSWORD}@host/db');
  const schemaSpec = SPEC.postgres.keys.schema;
  const schemaEntry = fields.get('schema');
  const schema = checked(reader, schemaEntry, reader.string(schemaEntry), (text) => {
    if (!new RegExp(schemaSpec.pattern).test(text)) {
      throw new LockdError('BAD_NAME', `expected a lower-case SQL identifier like "lockd", got "${text}"`);
    }
  });
  const tls = readTls(reader, fields.get('tls'));
  if (url === undefined || (schemaEntry?.value !== undefined && schema === undefined)) return undefined;
  return { type: 'postgres', url, schema: schema ?? schemaSpec.default, ...(tls === undefined ? {} : { tls }) };
}

/**
 * Redis: one primary by `url`, through Sentinel (`sentinel`), or a Redlock majority of independent
 * primaries (`redlock`). The topology keys are
 * alternatives, of which exactly one must be set (reported at the second one, or at `backend`
 * when neither is): a new one is a new reader branch here and a new member of the `redis` config
 * union, with `url` unchanged.
 */
function readRedis(reader: ConfigReader, fields: Map<string, Entry>, parent: Entry): BackendConfig | undefined {
  const set = (['url', 'sentinel', 'redlock'] as const).filter((name) => fields.get(name)?.value !== undefined);
  if (set.length > 1) {
    reader.report((fields.get(set[1] as string) as Entry).key, `backend: set either ${set[0]} or ${set[1]}, not both`);
    return undefined;
  }
  const tlsEntry = fields.get('tls');
  const tls = readTls(reader, tlsEntry);
  if (set[0] === 'sentinel' || set[0] === 'redlock') {
    // The sentinels and the nodes they name, or each primary, would need TLS settings of their own.
    if (tlsEntry?.value !== undefined) reader.report(tlsEntry.key, `backend: tls is for a rediss:// url; ${set[0] === 'sentinel' ? 'Sentinel over TLS is not implemented' : "Redlock with tls settings is not implemented (rediss:// urls are verified against Node's CA store)"}`);
    return set[0] === 'sentinel' ? readSentinel(reader, fields.get('sentinel') as Entry) : readRedlock(reader, fields.get('redlock') as Entry);
  }
  const urlEntry = fields.get('url');
  if (urlEntry?.value === undefined) {
    reader.report(parent.key, 'backend: one of url, sentinel or redlock is required');
    return undefined;
  }
  const url = checked(reader, urlEntry, reader.string(urlEntry), checkRedisUrl);
  if (reader.origin === 'file') rejectLiteralPassword(reader, urlEntry, 'redis://lockd:${REDIS_PASSWORD}@host:6379');
  if (tlsEntry !== undefined && tls !== undefined && url !== undefined && !/^rediss:/i.test(url)) {
    reader.report(tlsEntry.key, 'backend: tls needs a rediss:// url (redis:// is not encrypted)');
    return undefined;
  }
  return url === undefined ? undefined : { type: 'redis', url, ...(tls === undefined ? {} : { tls }) };
}

/** `backend.redlock`: 3 or 5 distinct primary URLs (an odd count, so that two majorities always share a primary). */
function readRedlock(reader: ConfigReader, entry: Entry): BackendConfig | undefined {
  const items = reader.list(entry);
  if (items === undefined) return undefined;
  if (items.length !== 3 && items.length !== 5) {
    reader.reportValue(entry, `expected 3 or 5 independent primaries, got ${items.length}`);
    return undefined;
  }
  const urls = items.map((item) => {
    const url = checked(reader, item, reader.string(item), checkRedisUrl);
    if (reader.origin === 'file') rejectLiteralPassword(reader, item, 'redis://lockd:${REDIS_PASSWORD}@r1:6379');
    return url;
  });
  if (urls.some((u) => u === undefined)) return undefined;
  const duplicate = items.find((item, i) => urls.indexOf(urls[i]) !== i);
  if (duplicate !== undefined) {
    reader.reportValue(duplicate, 'the same primary twice: a majority of distinct primaries is needed');
    return undefined;
  }
  return { type: 'redis', redlock: urls as string[] };
}

/** `backend.sentinel`: master name, sentinel addresses, data-node credentials, min_replicas_ack. */
function readSentinel(reader: ConfigReader, entry: Entry): BackendConfig | undefined {
  const spec = SPEC.redis.keys.sentinel;
  const fields = reader.mapping(entry, keyNames(spec));
  if (fields === undefined) return undefined;
  const masterEntry = reader.require(fields, 'master', entry, 'sentinel: ');
  const master = nonEmpty(reader, masterEntry);
  const nodesEntry = reader.require(fields, 'nodes', entry, 'sentinel: ');
  const items = reader.list(nodesEntry);
  if (nodesEntry?.value !== undefined && items?.length === 0) reader.reportValue(nodesEntry, 'expected at least one sentinel');
  const nodes = (items ?? []).map((item) => checked(reader, item, reader.string(item), (text) => void parseHostPort(text)));
  const username = nonEmpty(reader, fields.get('username'));
  const passwordEntry = fields.get('password');
  const password = reader.string(passwordEntry);
  if (passwordEntry !== undefined && reader.origin === 'file') rejectLiteralSecret(reader, passwordEntry, 'password: ${REDIS_PASSWORD}');
  const ack = fields.get('min_replicas_ack');
  const minReplicasAck = reader.integer(ack, spec.keys.min_replicas_ack);
  const bad = (ack?.value !== undefined && minReplicasAck === undefined) || username === null;
  if (typeof master !== 'string' || nodes.length === 0 || nodes.some((n) => n === undefined) || bad) return undefined;
  return {
    type: 'redis',
    sentinel: {
      master,
      nodes: nodes as string[],
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      minReplicasAck: minReplicasAck ?? spec.keys.min_replicas_ack.default,
    },
  };
}

function readTls(reader: ConfigReader, entry: Entry | undefined): { ca?: string; cert?: string; key?: string } | undefined {
  if (entry?.value === undefined) return undefined;
  const spec = SPEC.etcd.keys.tls;
  const fields = reader.mapping(entry, keyNames(spec));
  if (fields === undefined) return undefined;
  const tls: { ca?: string; cert?: string; key?: string } = {};
  for (const name of keyNames(spec)) {
    const file = nonEmpty(reader, fields.get(name));
    if (typeof file === 'string') tls[name] = file;
  }
  // A client certificate is useless without its key, and the reverse.
  bothOrNeither(reader, fields, spec, 'tls: ');
  return tls;
}

function readZooKeeper(reader: ConfigReader, fields: Map<string, Entry>, parent: Entry): BackendConfig | undefined {
  const connectEntry = reader.require(fields, 'connect', parent, 'backend: ');
  const connect = checked(reader, connectEntry, reader.string(connectEntry), checkConnect);
  const auth = readAuth(reader, fields.get('auth'));
  if (connect === undefined) return undefined;
  return { type: 'zookeeper', connect, ...(auth === undefined ? {} : { auth }) };
}

function readAuth(reader: ConfigReader, entry: Entry | undefined): { scheme: 'digest'; credentials: string } | undefined {
  const spec = SPEC.zookeeper.keys.auth;
  const fields = entry?.value === undefined ? undefined : reader.mapping(entry, keyNames(spec));
  if (entry === undefined || fields === undefined) return undefined;
  const scheme = reader.oneOf(fields.get('scheme'), spec.keys.scheme.values) ?? spec.keys.scheme.default;
  const credentialsEntry = reader.require(fields, 'credentials', entry, 'auth: ');
  const credentials = checked(reader, credentialsEntry, reader.string(credentialsEntry), (text) => {
    if (!/^[^:]+:/.test(text)) throw new LockdError('BAD_CREDENTIALS', 'expected credentials like "user:password"');
  });
  return credentials === undefined ? undefined : { scheme, credentials };
}

/** `http(s)://host:port`, as the etcd client expects; no path. */
function checkEndpoint(text: string): void {
  const match = /^https?:\/\/([^/]*)\/?$/.exec(text);
  if (match === null) {
    throw new LockdError('BAD_ADDRESS', `expected an endpoint like "http://127.0.0.1:2379", got "${text}"`);
  }
  parseHostPort(match[1] ?? '');
}

/** `postgres://` or `postgresql://` with a host; the database and options are the server's business. */
function checkPostgresUrl(text: string): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LockdError('BAD_ADDRESS', 'expected a URL like "postgres://lockd@db.example:5432/app"');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new LockdError('BAD_ADDRESS', `expected a postgres:// URL, got "${url.protocol}//"`);
  }
  if (url.hostname === '') throw new LockdError('BAD_ADDRESS', 'the URL names no host');
}

/** `redis://` or `rediss://` with a host, an optional port and an optional database number; no query. */
function checkRedisUrl(text: string): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LockdError('BAD_ADDRESS', 'expected a URL like "redis://redis.example:6379"');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new LockdError('BAD_ADDRESS', `expected a redis:// or rediss:// URL, got "${url.protocol}//"`);
  }
  if (url.hostname === '') throw new LockdError('BAD_ADDRESS', 'the URL names no host');
  if (!/^(\/\d*)?$/.test(url.pathname)) throw new LockdError('BAD_ADDRESS', `expected a database number after the port, got "${url.pathname}"`);
  if (url.search !== '' || url.hash !== '') throw new LockdError('BAD_ADDRESS', 'the URL must not have options (?...) or a fragment (#...)');
}

/**
 * A password written into the file would end up in backups, diffs and `ps` of editors: it must
 * come from the environment, e.g. `postgres://lockd:${PGPASSWORD}@db/app` (the message shows
 * `example`). Applies to any `scheme://user:password@` URL (PostgreSQL, Redis).
 */
function rejectLiteralPassword(reader: ConfigReader, entry: Entry, example: string): void {
  const raw = isScalar(entry.value) && typeof entry.value.value === 'string' ? entry.value.value : '';
  const password = /^[a-z]+:\/\/[^/@:]*:([^/@]*)@/i.exec(raw)?.[1];
  if (password !== undefined && password !== '' && !/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(password)) {
    reader.reportValue(entry, `the password must come from the environment: write it as \${VAR}, e.g. ${example}`);
  }
}

/** A secret key (a password of its own, not in a URL) must be a `${VAR}` reference in the file. */
function rejectLiteralSecret(reader: ConfigReader, entry: Entry, example: string): void {
  const raw = isScalar(entry.value) && typeof entry.value.value === 'string' ? entry.value.value : '';
  if (raw !== '' && !/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(raw)) {
    reader.reportValue(entry, `the password must come from the environment: write it as \${VAR}, e.g. ${example}`);
  }
}

/** `host:port[,host:port...][/chroot]`, ZooKeeper's connection string. */
function checkConnect(text: string): void {
  const slash = text.indexOf('/');
  const hosts = slash === -1 ? text : text.slice(0, slash);
  for (const host of hosts.split(',')) parseHostPort(host);
  const chroot = slash === -1 ? '' : text.slice(slash);
  if (chroot !== '' && !/^(\/[^/\s]+)+$/.test(chroot)) {
    throw new LockdError('BAD_ADDRESS', `invalid chroot "${chroot}": expected a path like "/apps/lockd"`);
  }
}

/** Runs `check` on a read value, reporting its LockdError at the value; undefined when bad. */
function checked(
  reader: ConfigReader,
  entry: Entry | undefined,
  value: string | undefined,
  check: (text: string) => void,
): string | undefined {
  if (entry === undefined || value === undefined) return undefined;
  try {
    check(value);
    return value;
  } catch (err) {
    if (!(err instanceof LockdError)) throw err;
    reader.reportValue(entry, err.message);
    return undefined;
  }
}

/** Reports, at the key that is set, each of the spec's `together` pairs of which only one is set. */
function bothOrNeither(reader: ConfigReader, fields: Map<string, Entry>, spec: MappingSpec, prefix: string): void {
  for (const [a, b] of spec.together ?? []) {
    const setA = fields.get(a)?.value !== undefined;
    const setB = fields.get(b)?.value !== undefined;
    const lone = setA === setB ? undefined : fields.get(setA ? a : b);
    if (lone) reader.report(lone.key, `${prefix}set both ${a} and ${b}, or neither`);
  }
}

/** A non-empty string; null when it was present but bad (already reported). */
function nonEmpty(reader: ConfigReader, entry: Entry | undefined): string | null | undefined {
  if (entry?.value === undefined) return undefined;
  const value = reader.string(entry);
  if (value === '') reader.reportValue(entry, 'must not be empty');
  return value === undefined || value === '' ? null : value;
}
