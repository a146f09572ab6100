import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHostPort } from '../../src/config/host-port.js';
import { parseConfig } from '../../src/config/load.js';
import { closest } from '../../src/config/suggest.js';
import { ConfigError, LockdError } from '../../src/errors.js';

/** `LINE:COL: message` for each problem `text` has, or [] when it parses. */
function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'c.yaml', env);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => `${p.line}:${p.col}: ${p.message}`);
  }
}

const lines = (...rows: string[]): string => `${rows.join('\n')}\n`;
const JOB = ['jobs:', '  j:', '    schedule: "@daily"'];

describe('advisory_lock', () => {
  const PG = ['backend:', '  type: postgres', '  url: postgres://db/app'];
  it('reads a 64-bit key exactly (beyond 2^53) with the postgres backend', () => {
    const config = parseConfig(lines(...PG, ...JOB, '    run: x', '    advisory_lock: -9223372036854775808'), 'c.yaml', {});
    assert.equal(config.jobs[0]?.advisoryLock, -(2n ** 63n));
    const big = parseConfig(lines(...PG, ...JOB, '    run: x', '    advisory_lock: 9007199254740993'), 'c.yaml', {});
    assert.equal(big.jobs[0]?.advisoryLock, 9007199254740993n);
  });

  it('is refused on other backends, with overlap allow, and out of range', () => {
    assert.deepEqual(problems(lines(...JOB, '    run: x', '    advisory_lock: 5')), ['5:5: advisory_lock needs backend.type: postgres (this file uses embedded)']);
    assert.deepEqual(problems(lines(...PG, ...JOB, '    run: x', '    overlap: allow', '    advisory_lock: 5')), [
      '9:5: job "j": advisory_lock needs overlap skip or queue (with allow, runs overlap and the lock is held only while a run starts)',
    ]);
    assert.deepEqual(problems(lines(...PG, ...JOB, '    run: x', '    advisory_lock: 9223372036854775808')), ['8:20: must be a signed 64-bit integer, got 9223372036854775808']);
    assert.deepEqual(problems(lines(...PG, ...JOB, '    run: x', '    advisory_lock: abc')), ['8:20: expected an integer key, e.g. 12345 (as passed to pg_try_advisory_lock)']);
  });
});

describe('seats', () => {
  const seats = (...rows: string[]): string[] => problems(lines(...JOB, '    run: x', ...rows));
  it('reads a seat set name and count', () => {
    const config = parseConfig(lines(...JOB, '    run: x', '    overlap: queue', '    seats: { name: gpu, count: 2 }'), 'c.yaml', {});
    assert.deepEqual(config.jobs[0]?.seats, { name: 'gpu', count: 2 });
    assert.equal(parseConfig(lines(...JOB, '    run: x'), 'c.yaml', {}).jobs[0]?.seats, undefined);
  });

  it('requires name and count', () => {
    assert.deepEqual(seats('    seats: { count: 2 }'), ['5:5: job "j": seats: missing required key "name"']);
    assert.deepEqual(seats('    seats:', '      name: gpu'), ['5:5: job "j": seats: missing required key "count"']);
  });

  it('refuses a count outside 1..1000 or not an integer', () => {
    assert.deepEqual(seats('    seats: { name: gpu, count: 0 }'), ['5:32: must be between 1 and 1000, got 0']);
    assert.deepEqual(seats('    seats: { name: gpu, count: 1001 }'), ['5:32: must be between 1 and 1000, got 1001']);
    assert.deepEqual(seats('    seats: { name: gpu, count: 1.5 }'), ['5:32: expected an integer, got 1.5']);
  });

  it('refuses a bad name, unknown keys and overlap allow', () => {
    assert.deepEqual(seats('    seats:', '      name: gpu/a', '      count: 2'), [
      '6:13: invalid seat set name "gpu/a": use letters, digits, "_", "." and "-", starting with a letter or digit',
    ]);
    assert.deepEqual(seats('    seats: { name: gpu, count: 2, size: 3 }'), ['5:35: unknown key "size"']);
    assert.deepEqual(seats('    overlap: allow', '    seats: { name: gpu, count: 2 }'), [
      '6:5: job "j": seats needs overlap skip or queue (with allow, runs overlap and the seat would be held only while a run starts)',
    ]);
  });

  it('reserves LOCKD_SEAT_TOKEN and LOCKD_SEATS', () => {
    assert.deepEqual(seats('    env: { LOCKD_SEATS: "3", LOCKD_SEAT_TOKEN: "1" }'), [
      '5:12: LOCKD_SEATS is set by lockd for every run',
      '5:30: LOCKD_SEAT_TOKEN is set by lockd for every run',
    ]);
  });
});

describe('backend', () => {
  it('reads an etcd backend; username, password and tls are optional', () => {
    const config = parseConfig(lines('backend:', '  type: etcd', '  endpoints: [http://127.0.0.1:2379]'), 'c.yaml', {});
    assert.deepEqual(config.backend, { type: 'etcd', endpoints: ['http://127.0.0.1:2379'] });
  });

  it('reads a ZooKeeper backend with a chroot and digest auth', () => {
    const text = lines(
      'backend:',
      '  type: zookeeper',
      '  connect: zk-1:2181,zk-2:2181,10.0.0.3:2181/apps/lockd',
      '  auth: { credentials: "lockd:${ZK_PASSWORD}" }',
    );
    assert.deepEqual(parseConfig(text, 'c.yaml', { ZK_PASSWORD: 'pw' }).backend, {
      type: 'zookeeper',
      connect: 'zk-1:2181,zk-2:2181,10.0.0.3:2181/apps/lockd',
      auth: { scheme: 'digest', credentials: 'lockd:pw' },
    });
  });

  it('reads a PostgreSQL backend; the schema defaults to lockd, the password comes from the environment', () => {
    const text = lines('backend:', '  type: postgres', '  url: postgres://lockd:${PGPASSWORD}@db:5432/app?sslmode=require', '  tls: { ca: ca.pem }');
    assert.deepEqual(parseConfig(text, 'c.yaml', { PGPASSWORD: 's3cret' }).backend, {
      type: 'postgres',
      url: 'postgres://lockd:s3cret@db:5432/app?sslmode=require',
      schema: 'lockd',
      tls: { ca: 'ca.pem' },
    });
    assert.equal((parseConfig(lines('backend:', '  type: postgres', '  url: postgresql://db/app', '  schema: cron_x'), 'c.yaml', {}).backend as { schema: string }).schema, 'cron_x');
  });

  it('reports every problem of a PostgreSQL backend, a literal password among them', () => {
    assert.deepEqual(problems(lines('backend:', '  type: postgres', '  url: postgres://lockd:hunter2@db/app', '  schema: Bad-Name')), [
      '3:8: the password must come from the environment: write it as ${VAR}, e.g. postgres://lockd:${PGPASSWORD}@host/db',
      '4:11: expected a lower-case SQL identifier like "lockd", got "Bad-Name"',
    ]);
    assert.deepEqual(problems(lines('backend:', '  type: postgres', '  url: mysql://db/app')), ['3:8: expected a postgres:// URL, got "mysql://"']);
    assert.deepEqual(problems(lines('backend:', '  type: postgres')), ['1:1: backend: missing required key "url"']);
  });

  it('reads a Redis backend; the password comes from the environment, TLS by rediss://', () => {
    assert.deepEqual(parseConfig(lines('backend:', '  type: redis', '  url: redis://10.0.0.5:6379/2'), 'c.yaml', {}).backend, {
      type: 'redis',
      url: 'redis://10.0.0.5:6379/2',
    });
    const text = lines('backend:', '  type: redis', '  url: rediss://lockd:${REDIS_PASSWORD}@cache.example:6380');
    assert.deepEqual(parseConfig(text, 'c.yaml', { REDIS_PASSWORD: 's3cret' }).backend, { type: 'redis', url: 'rediss://lockd:s3cret@cache.example:6380' });
    // A password alone (no user), as `requirepass` wants it.
    const bare = parseConfig(lines('backend:', '  type: redis', '  url: redis://:${PW}@h'), 'c.yaml', { PW: 'x' }).backend;
    assert.deepEqual(bare, { type: 'redis', url: 'redis://:x@h' });
  });

  it('reports every problem of a Redis backend: a literal password, a bad URL, unknown keys', () => {
    assert.deepEqual(problems(lines('backend:', '  type: redis', '  url: redis://lockd:hunter2@cache:6379')), [
      '3:8: the password must come from the environment: write it as ${VAR}, e.g. redis://lockd:${REDIS_PASSWORD}@host:6379',
    ]);
    assert.deepEqual(problems(lines('backend:', '  type: redis', '  url: redis://:hunter2@cache')), [
      '3:8: the password must come from the environment: write it as ${VAR}, e.g. redis://lockd:${REDIS_PASSWORD}@host:6379',
    ]);
    assert.deepEqual(problems(lines('backend:', '  type: redis', '  url: http://cache:6379')), ['3:8: expected a redis:// or rediss:// URL, got "http://"']);
    assert.deepEqual(problems(lines('backend:', '  type: redis', '  url: cache:6379')), ['3:8: expected a redis:// or rediss:// URL, got "cache://"']);
    assert.deepEqual(problems(lines('backend:', '  type: redis', '  url: redis://cache:6379/app')), ['3:8: expected a database number after the port, got "/app"']);
    assert.deepEqual(problems(lines('backend:', '  type: redis', '  url: redis://cache:6379?db=1')), [
      '3:8: the URL must not have options (?...) or a fragment (#...)',
    ]);
    assert.deepEqual(problems(lines('backend:', '  type: redis', '  url: not a url')), ['3:8: expected a URL like "redis://redis.example:6379"']);
    assert.deepEqual(problems(lines('backend:', '  type: redis', '  schema: x')), ['1:1: backend: one of url, sentinel or redlock is required', '3:3: unknown key "schema"']);
  });

  it('reads backend.tls of a rediss:// url (CA, client certificate and key), and refuses it elsewhere at the tls key', () => {
    const TLS_URL = ['backend:', '  type: redis', '  url: rediss://cache:6380'];
    assert.deepEqual(parseConfig(lines(...TLS_URL, '  tls: { ca: ca.pem, cert: c.pem, key: k.pem }'), 'c.yaml', {}).backend, {
      type: 'redis',
      url: 'rediss://cache:6380',
      tls: { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' },
    });
    assert.deepEqual(problems(lines('backend:', '  type: redis', '  url: redis://cache:6379', '  tls: { ca: ca.pem }')), ['4:3: backend: tls needs a rediss:// url (redis:// is not encrypted)']);
    assert.deepEqual(problems(lines('backend:', '  type: redis', "  sentinel: { master: m, nodes: ['h:26379'] }", '  tls: { ca: ca.pem }')), [
      '4:3: backend: tls is for a rediss:// url; Sentinel over TLS is not implemented',
    ]);
    assert.deepEqual(problems(lines(...TLS_URL, '  tls: { cert: c.pem }')), ['4:10: tls: set both cert and key, or neither']);
    assert.deepEqual(problems(lines(...TLS_URL, '  tls: { ca: "" }')), ['4:14: must not be empty']);
  });

  it('reads a Redis Sentinel backend: master, nodes, password from the environment, min_replicas_ack (default 0)', () => {
    const text = lines(
      'backend:',
      '  type: redis',
      '  sentinel:',
      '    master: mymaster',
      "    nodes: ['127.0.0.1:26379', '[::1]:26380']",
      '    password: ${REDIS_PASSWORD}',
      '    min_replicas_ack: 1',
    );
    assert.deepEqual(parseConfig(text, 'c.yaml', { REDIS_PASSWORD: 's3cret' }).backend, {
      type: 'redis',
      sentinel: { master: 'mymaster', nodes: ['127.0.0.1:26379', '[::1]:26380'], password: 's3cret', minReplicasAck: 1 },
    });
    const bare = parseConfig(lines('backend: { type: redis, sentinel: { master: m, nodes: ["s1:26379"] } }'), 'c.yaml', {}).backend;
    assert.deepEqual(bare, { type: 'redis', sentinel: { master: 'm', nodes: ['s1:26379'], minReplicasAck: 0 } });
  });

  it('reads a Redlock backend of 3 or 5 primaries, and refuses other counts, duplicates and a second topology key', () => {
    const redlock = (...urls: string[]): string => lines('backend:', '  type: redis', '  redlock:', ...urls.map((u) => `    - ${u}`));
    assert.deepEqual(parseConfig(redlock('redis://r1:6379', 'redis://r2:6379', 'rediss://r3:6380/2'), 'c.yaml', {}).backend, {
      type: 'redis',
      redlock: ['redis://r1:6379', 'redis://r2:6379', 'rediss://r3:6380/2'],
    });
    assert.deepEqual(problems(redlock('redis://r1:6379', 'redis://r2:6379')), ['4:5: expected 3 or 5 independent primaries, got 2']);
    assert.deepEqual(problems(redlock('redis://r1:6379', 'redis://r2:6379', 'redis://r3:6379', 'redis://r4:6379')), ['4:5: expected 3 or 5 independent primaries, got 4']);
    assert.deepEqual(problems(redlock('redis://r1:6379', 'redis://r2:6379', 'redis://r1:6379')), ['6:7: the same primary twice: a majority of distinct primaries is needed']);
    assert.deepEqual(problems(redlock('redis://r1:6379', 'http://r2:6379', 'redis://r3:6379')), ['5:7: expected a redis:// or rediss:// URL, got "http://"']);
    assert.deepEqual(problems(redlock('redis://u:hunter2@r1:6379', 'redis://r2:6379', 'redis://r3:6379')), [
      '4:7: the password must come from the environment: write it as ${VAR}, e.g. redis://lockd:${REDIS_PASSWORD}@r1:6379',
    ]);
    const both = lines('backend:', '  type: redis', '  url: redis://cache:6379', "  redlock: ['redis://r1:6379', 'redis://r2:6379', 'redis://r3:6379']");
    assert.deepEqual(problems(both), ['4:3: backend: set either url or redlock, not both']);
  });

  it('refuses url and sentinel together, and bad sentinel settings, naming line and column', () => {
    const both = lines('backend:', '  type: redis', '  url: redis://cache:6379', '  sentinel:', '    master: m', "    nodes: ['s1:26379']");
    assert.deepEqual(problems(both), ['4:3: backend: set either url or sentinel, not both']);
    const sentinel = (...rest: string[]): string => lines('backend:', '  type: redis', '  sentinel:', ...rest);
    assert.deepEqual(problems(sentinel('    master: m', '    nodes: []')), ['5:12: expected at least one sentinel']);
    assert.deepEqual(problems(sentinel('    master: m', "    nodes: ['s1']")), ['5:13: invalid address "s1": missing ":port"']);
    assert.deepEqual(problems(sentinel("    nodes: ['s1:26379']")), ['3:3: sentinel: missing required key "master"']);
    assert.deepEqual(problems(sentinel('    master: m', "    nodes: ['s1:26379']", '    min_replicas_ack: -1')), ['6:23: must be between 0 and 100, got -1']);
    assert.deepEqual(problems(sentinel('    master: m', "    nodes: ['s1:26379']", '    password: hunter2')), [
      '6:15: the password must come from the environment: write it as ${VAR}, e.g. password: ${REDIS_PASSWORD}',
    ]);
  });

  it('keeps an embedded path as written', () => {
    const config = parseConfig(lines('backend: { type: embedded, path: ../state/lockd.db }'), 'c.yaml', {});
    assert.deepEqual(config.backend, { type: 'embedded', path: '../state/lockd.db' });
    assert.deepEqual(parseConfig('backend: { type: embedded }', 'c.yaml', {}).backend, {
      type: 'embedded',
      path: './lockd.db',
    });
  });

  it('reports every problem of an etcd backend', () => {
    const text = lines(
      'backend:',
      '  type: etcd',
      '  endpoints: [127.0.0.1:2379, "http://x:99999", "http://[::1]:2379", ~]',
      '  password: p',
      '  tls: { cert: c.pem }',
      '  path: x.db',
    );
    assert.deepEqual(problems(text), [
      '3:15: expected an endpoint like "http://127.0.0.1:2379", got "127.0.0.1:2379"',
      '3:31: invalid address "x:99999": invalid port "99999" (expected 1-65535)',
      '3:70: empty list item',
      '4:3: set both username and password, or neither',
      '5:10: tls: set both cert and key, or neither',
      '6:3: unknown key "path"',
    ]);
    assert.deepEqual(problems(lines('backend:', '  type: etcd', '  endpoints: []')), ['3:14: expected at least one endpoint']);
  });

  it('reports a missing or unknown type, and missing required keys at the backend key', () => {
    assert.deepEqual(problems(lines('backend:', '  path: x.db')), ['1:1: backend: missing required key "type"']);
    assert.deepEqual(problems(lines('backend:', '  type: consul', '  address: x')), [
      '2:9: expected one of embedded, etcd, zookeeper, postgres, redis, got "consul"',
    ]);
    assert.deepEqual(problems(lines('backend:', '  type: zookeeper', '  endpoint: x')), [
      '1:1: backend: missing required key "connect"',
      '3:3: unknown key "endpoint"',
    ]);
    assert.deepEqual(problems('backend: etcd'), ['1:10: expected a mapping, got "etcd"']);
  });

  it('checks a ZooKeeper connection string and credentials', () => {
    const zk = (connect: string, auth = ''): string[] =>
      problems(lines('backend:', '  type: zookeeper', `  connect: "${connect}"`, auth));
    assert.deepEqual(zk('zk1:2181,zk2'), ['3:12: invalid address "zk2": missing ":port"']);
    assert.deepEqual(zk('zk1:2181/apps/'), ['3:12: invalid chroot "/apps/": expected a path like "/apps/lockd"']);
    assert.deepEqual(zk('zk1:2181', '  auth: { scheme: sasl, credentials: nouser }'), [
      '4:19: expected one of digest, got "sasl"',
      '4:38: expected credentials like "user:password"',
    ]);
  });
});

describe('http', () => {
  it('accepts host:port, bracketed IPv6 and port 0', () => {
    for (const listen of ['127.0.0.1:9464', 'metrics.local:80', '[::1]:9464', '0.0.0.0:0']) {
      assert.deepEqual(parseConfig(`http: { listen: "${listen}" }`, 'c.yaml', {}).http, { listen });
    }
  });

  it('reports a bad or missing listen address', () => {
    assert.deepEqual(problems('http: { listen: localhost }'), ['1:17: invalid address "localhost": missing ":port"']);
    assert.deepEqual(problems('http: { listen: "::1:9464" }'), [
      '1:17: invalid address "::1:9464": invalid host "::1" (write IPv6 addresses in brackets, e.g. "[::1]:2379")',
    ]);
    assert.deepEqual(problems('http: {}'), ['1:1: http: missing required key "listen"']);
  });
});

describe('top level', () => {
  it('checks the cluster name, node and leader ttl bounds', () => {
    const text = lines('cluster: "lockd/prod"', 'node: ""', 'leader:', '  ttl: 1s', 'shutdown_grace: -1s');
    assert.deepEqual(problems(text), [
      '1:10: invalid cluster name "lockd/prod": use letters, digits, "_", "." and "-", starting with a letter or digit',
      '2:7: must not be empty',
      '4:8: must be at least 2s, got 1s',
      '5:17: invalid duration "-1s": durations cannot be negative',
    ]);
    assert.deepEqual(problems(lines('leader:', '  ttl: 6m')), ['2:8: must be at most 5m, got 6m']);
  });

  it('suggests the intended key for a typo, in any spelling', () => {
    assert.deepEqual(problems(lines('shutdownGrace: 5s', 'leader:', '  tll: 5s', 'job: {}')), [
      '1:1: unknown key "shutdownGrace"; did you mean "shutdown_grace"?',
      '3:3: unknown key "tll"; did you mean "ttl"?',
      '4:1: unknown key "job"; did you mean "jobs"?',
    ]);
  });

  it('refuses a file that is not a mapping, and jobs that are not a mapping', () => {
    assert.deepEqual(problems('- a\n- b\n'), ['1:1: expected a mapping, got a list']);
    assert.deepEqual(problems('jobs:\n  - a\n'), ['2:3: expected a mapping, got a list']);
  });
});

describe('jobs', () => {
  it('checks job names, values and bounds', () => {
    const text = lines(
      'jobs:',
      '  "nightly report":',
      '    schedule: "@daily"',
      '    command: ["", x]',
      '    overlap: sometimes',
      '    misfire: run_twice',
      '    deadline: 0s',
      '    retries: 101',
      '    history: 1.5',
      '    cwd: ""',
      '    env: { 1X: a, LOCKD_JOB: b, OK: [1], PATH_EXTRA: "${EXTRA}" }',
    );
    assert.deepEqual(problems(text), [
      '2:3: invalid job name "nightly report": use letters, digits, "_", "." and "-", starting with a letter or digit',
      '4:15: the program name must not be empty',
      '5:14: expected one of skip, queue, allow, got "sometimes"',
      '6:14: expected one of skip, run_once, run_all, got "run_twice"',
      '7:15: must be at least 1ms, got 0s',
      '8:14: must be between 0 and 100, got 101',
      '9:14: expected an integer, got 1.5',
      '10:10: must not be empty',
      '11:12: invalid environment variable name "1X"',
      '11:19: LOCKD_JOB is set by lockd for every run',
      '11:37: expected a string, got a list',
      '11:54: environment variable EXTRA is not set',
    ]);
  });

  it('reports missing keys at the job name, and treats an empty value as absent', () => {
    assert.deepEqual(problems(lines('jobs:', '  j:')), [
      '2:3: job "j": missing required key "schedule"',
      '2:3: job "j": one of run or command is required',
    ]);
    assert.deepEqual(problems(lines('jobs:', '  j:', '    schedule:', '    run: x')), [
      '2:3: job "j": missing required key "schedule"',
    ]);
    assert.deepEqual(problems(lines('http:', '  listen:')), ['1:1: http: missing required key "listen"']);
    const config = parseConfig(lines(...JOB, '    run: x', '    timeout:', '    env: { INHERITED: }'), 'c.yaml', {});
    assert.equal(config.jobs[0]?.timeoutMs, undefined);
    assert.deepEqual(config.jobs[0]?.env, {});
  });

  it('reads scalars in command and env as spelled, and integers from the environment', () => {
    const text = lines(...JOB, '    command: [sleep, 5, 1.50, true]', '    retries: ${RETRIES:-3}', '    history: "${KEEP}"');
    const config = parseConfig(text, 'c.yaml', { KEEP: '7' });
    assert.deepEqual(config.jobs[0]?.command, ['sleep', '5', '1.50', 'true']);
    assert.equal(config.jobs[0]?.retries, 3);
    assert.equal(config.jobs[0]?.history, 7);
    assert.deepEqual(problems(lines(...JOB, '    run: x', '    retries: "3"')), ['5:14: expected an integer, got "3"']);
    assert.deepEqual(problems(lines(...JOB, '    run: x', '    retries: ${N}'), { N: 'many' }), [
      '5:14: expected an integer, got "${N}"',
    ]);
  });

  it('accepts a bare 0 as a duration, as Go does', () => {
    assert.equal(parseConfig(lines(...JOB, '    run: x', '    jitter: 0'), 'c.yaml', {}).jobs[0]?.jitterMs, 0);
  });

  it('follows aliases and refuses merge keys and unknown tags', () => {
    const text = lines(
      'jobs:',
      '  a:',
      '    schedule: &daily "@daily"',
      '    run: x',
      '    env: &common { REGION: eu }',
      '  b:',
      '    schedule: *daily',
      '    run: y',
      '    env: *common',
    );
    const config = parseConfig(text, 'c.yaml', {});
    assert.deepEqual(
      config.jobs.map((j) => [j.name, j.schedule, j.env]),
      [
        ['a', '@daily', { REGION: 'eu' }],
        ['b', '@daily', { REGION: 'eu' }],
      ],
    );
    assert.deepEqual(problems(lines('jobs:', '  a: &base', '    schedule: "@daily"', '    run: x', '  b:', '    <<: *base')), [
      '5:3: job "b": missing required key "schedule"',
      '5:3: job "b": one of run or command is required',
      '6:5: merge keys ("<<") are not supported',
    ]);
    assert.deepEqual(problems(lines(...JOB, '    run: !secret x')), ['4:10: Unresolved tag: !secret']);
  });
});

describe('parseHostPort', () => {
  it('splits host and port', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:2379'), { host: '127.0.0.1', port: 2379 });
    assert.deepEqual(parseHostPort('[fe80::1]:65535'), { host: 'fe80::1', port: 65535 });
    assert.deepEqual(parseHostPort('etcd_1.svc:1'), { host: 'etcd_1.svc', port: 1 });
    assert.deepEqual(parseHostPort('h:0', { allowPortZero: true }), { host: 'h', port: 0 });
  });

  it('refuses what is not host:port', () => {
    for (const text of ['h', ':80', 'h:', 'h:0', 'h:65536', 'h:8o', 'h:-1', '[h]:80', 'a b:80', '-h:80', 'h/x:80']) {
      assert.throws(
        () => parseHostPort(text),
        (err: unknown) => err instanceof LockdError && err.code === 'BAD_ADDRESS',
        text,
      );
    }
  });
});

describe('closest', () => {
  it('suggests only likely typos', () => {
    const keys = ['schedule', 'timeout', 'run', 'env', 'retry_backoff'];
    assert.equal(closest('timout', keys), 'timeout');
    assert.equal(closest('retryBackoff', keys), 'retry_backoff');
    assert.equal(closest('SCHEDULE', keys), 'schedule');
    assert.equal(closest('rn', keys), 'run');
    assert.equal(closest('cmd', keys), undefined);
    assert.equal(closest('colour', keys), undefined);
  });
});
