import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Ajv, type ErrorObject } from 'ajv';
import { parse } from 'yaml';
import { CONFIG_SPEC } from '../../src/config/config-spec.js';
import { SCHEMA_FILE, configJsonSchema, renderJsonSchema } from '../../src/config/json-schema.js';
import { parseConfig } from '../../src/config/load.js';
import type { Spec } from '../../src/config/spec.js';

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');
const fixture = (name: string): string => read(`test/fixtures/config/${name}`);
const ENV = { ETCD_PASSWORD: 's3cret' };

// Strict, but `required` may name keys declared elsewhere: run XOR command is `oneOf` of `required`.
const ajv = new Ajv({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true });
const validate = ajv.compile(configJsonSchema());

/** The schema's errors for a YAML text, as `instancePath keyword` (deduplicated); [] when it fits. */
function schemaErrors(text: string): string[] {
  // Duplicate keys cannot be represented in JSON; the loader reports them itself.
  if (validate(parse(text, { uniqueKeys: false }))) return [];
  return [...new Set((validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.keyword}`))];
}

function loaderAccepts(text: string): boolean {
  try {
    parseConfig(text, 'c.yaml', ENV);
    return true;
  } catch {
    return false;
  }
}

describe('JSON Schema of lockd.yaml', () => {
  it(`${SCHEMA_FILE} is what the spec generates (run npm run schema after changing the spec)`, () => {
    assert.equal(read(SCHEMA_FILE), renderJsonSchema());
  });

  it('config.example.yaml points editors at the shipped schema', () => {
    assert.equal(read('config.example.yaml').split('\n')[0], `# yaml-language-server: $schema=./${SCHEMA_FILE}`);
  });

  for (const [name, text] of [
    ['config.example.yaml', read('config.example.yaml')],
    ['full.yaml', fixture('full.yaml')],
    ['minimal.yaml', fixture('minimal.yaml')],
  ] as const) {
    it(`accepts ${name}, which the loader accepts`, () => {
      assert.ok(loaderAccepts(text));
      assert.deepEqual(schemaErrors(text), []);
    });
  }

  it('refuses many-mistakes.yaml for the same shape mistakes the loader reports', () => {
    const text = fixture('many-mistakes.yaml');
    assert.equal(loaderAccepts(text), false);
    const errors = schemaErrors(text);
    for (const expected of [
      '/ additionalProperties', // colour
      '/jobs/good additionalProperties', // timout
      '/jobs/slow/timeout anyOf', // 12, no unit
      '/jobs/slow/kill_grace anyOf', // 5sec
      '/jobs/both oneOf', // run and command
      '/jobs/neither oneOf', // neither run nor command
      '/jobs/neither/retries anyOf', // "two"
    ]) {
      assert.ok(errors.includes(expected), `expected "${expected}" among ${JSON.stringify(errors)}`);
    }
  });

  it('accepts the jobs of many-mistakes.yaml that only the loader can refuse', () => {
    const jobs = (parse(fixture('many-mistakes.yaml'), { uniqueKeys: false }) as { jobs: Record<string, unknown> }).jobs;
    const semantic: Record<string, string> = {
      'bad-cron': 'cron field out of range',
      'seven-fields': 'seven cron fields',
      mars: 'unknown IANA time zone',
      dup: 'duplicate key, which JSON cannot hold',
    };
    for (const [name, why] of Object.entries(semantic)) {
      const text = JSON.stringify({ jobs: { [name]: jobs[name] } });
      assert.equal(loaderAccepts(text), name === 'dup', `${name}: ${why}`);
      assert.deepEqual(schemaErrors(text), [], `${name}: ${why}`);
    }
  });

  for (const [what, yaml, errors] of [
    ['a key of another backend type', 'backend: { type: embedded, endpoints: [http://h:1] }', ['/backend additionalProperties']],
    ['an unknown backend type', 'backend: { type: consul }', ['/backend/type enum']],
    ['a bad enum value', 'log: { level: loud }', ['/log/level anyOf']],
    ['an integer out of range', 'jobs: { j: { schedule: "@daily", run: x, retries: 101 } }', ['/jobs/j/retries anyOf']],
    ['a size without a known unit', 'storage_budget: 5 parsecs', ['/storage_budget anyOf']],
    ['username without password', 'backend: { type: etcd, endpoints: [http://h:1], username: u }', ['/backend dependencies']],
    ['a job name with a slash', 'jobs: { a/b: { schedule: "@daily", run: x } }', ['/jobs propertyNames']],
    ['an invalid env variable name', 'jobs: { j: { schedule: "@daily", run: x, env: { 1X: y } } }', ['/jobs/j/env propertyNames']],
  ] as const) {
    it(`refuses ${what}, as the loader does`, () => {
      assert.equal(loaderAccepts(yaml), false);
      const got = schemaErrors(yaml);
      for (const error of errors) assert.ok(got.includes(error), `expected "${error}" among ${JSON.stringify(got)}`);
    });
  }

  it('requires the keys the loader requires, and only those', () => {
    // [key, a config missing it]: a key may be required in several places.
    const missing: [string, string][] = [
      ['listen', 'http: { }'],
      ['type', 'backend: { path: x }'],
      ['endpoints', 'backend: { type: etcd }'],
      ['connect', 'backend: { type: zookeeper }'],
      ['credentials', 'backend: { type: zookeeper, connect: "zk:2181", auth: { scheme: digest } }'],
      ['url', 'backend: { type: postgres }'],
      ['master', 'backend: { type: redis, sentinel: { nodes: ["127.0.0.1:26379"] } }'],
      ['nodes', 'backend: { type: redis, sentinel: { master: mymaster } }'],
      ['schedule', 'jobs: { j: { run: x } }'],
      ['name', 'jobs: { j: { schedule: "@daily", run: x, seats: { count: 2 } } }'],
      ['count', 'jobs: { j: { schedule: "@daily", run: x, seats: { name: gpu } } }'],
    ];
    for (const [key, yaml] of missing) {
      assert.throws(() => parseConfig(yaml, 'c.yaml', ENV), (err: Error) => err.message.includes(`missing required key "${key}"`), key);
      assert.ok(schemaErrors(yaml).some((e) => e.endsWith(' required')), key);
    }
    const required: string[] = [];
    const walk = (spec: Spec): void => {
      if (spec.kind === 'list') walk(spec.items);
      if (spec.kind === 'map') walk(spec.values);
      if (spec.kind === 'mapping') required.push(...(spec.required ?? []));
      if (spec.kind === 'mapping') Object.values(spec.keys).forEach(walk);
      if (spec.kind === 'variants') required.push(spec.tag);
      if (spec.kind === 'variants') Object.values(spec.variants).forEach(walk);
    };
    walk(CONFIG_SPEC);
    assert.deepEqual(required.sort(), missing.map(([key]) => key).sort());
  });

  it('accepts ${VAR} references wherever a value may come from the environment', () => {
    const yaml = [
      'cluster: ${CLUSTER:-demo}',
      'leader: { ttl: "${TTL:-5s}" }',
      'log: { level: "${LEVEL:-info}" }',
      'storage_budget: ${BUDGET:-64MiB}',
      'jobs: { j: { schedule: "@daily", run: x, retries: "${RETRIES:-2}", kill_grace: 0 } }',
    ].join('\n');
    assert.ok(loaderAccepts(yaml));
    assert.deepEqual(schemaErrors(yaml), []);
  });

  it('describes every key of the spec', () => {
    const missing: string[] = [];
    const walk = (spec: Spec, path: string): void => {
      if (spec.description.trim() === '') missing.push(path);
      if (spec.kind === 'list') walk(spec.items, `${path}[]`);
      if (spec.kind === 'map') walk(spec.values, `${path}.*`);
      if (spec.kind === 'mapping') for (const [key, value] of Object.entries(spec.keys)) walk(value, `${path}.${key}`);
      if (spec.kind === 'variants') for (const [tag, value] of Object.entries(spec.variants)) walk(value, `${path}(${tag})`);
    };
    walk(CONFIG_SPEC, '(top level)');
    assert.deepEqual(missing, []);
  });
});
