import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interpolate } from '../../src/config/interpolate.js';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const env = { SET: 'value', EMPTY: '' };

describe('interpolate', () => {
  // text, expansion, whether it held a `${...}` reference
  const table: [string, string, boolean][] = [
    ['${SET}', 'value', true],
    ['a-${SET}-b', 'a-value-b', true],
    ['${SET:-fallback}', 'value', true],
    ['${UNSET:-fallback}', 'fallback', true],
    ['${UNSET:-}', '', true],
    ['${EMPTY:-fallback}', 'fallback', true],
    ['${EMPTY}', '', true],
    ['${UNSET:-a b:-c}', 'a b:-c', true],
    ['$$', '$', false],
    ['$${SET}', '${SET}', false],
    ['$$$${SET}', '$${SET}', false],
    ['$$$$${SET}', '$$value', true],
    ['$$$', '$$', false],
    ['echo $HOME $1 "$@"', 'echo $HOME $1 "$@"', false],
    ['cost: 5$', 'cost: 5$', false],
    ['no references', 'no references', false],
  ];
  for (const [text, value, expanded] of table) {
    it(`expands ${JSON.stringify(text)} to ${JSON.stringify(value)}`, () => {
      assert.deepEqual(interpolate(text, env), { value, problems: [], expanded });
    });
  }

  it('reports an unset variable without a default', () => {
    assert.deepEqual(interpolate('x-${UNSET}-${SET}-${OTHER}', env), {
      value: 'x--value-',
      problems: ['environment variable UNSET is not set', 'environment variable OTHER is not set'],
      expanded: true,
    });
  });

  it('reports malformed references', () => {
    assert.deepEqual(interpolate('${1X}', env).problems, ['invalid variable reference "${1X}"']);
    assert.deepEqual(interpolate('${}', env).problems, ['invalid variable reference "${}"']);
    assert.deepEqual(interpolate('${A:-${B}}', env).problems, ['nested references are not supported in "${A:-${B}"']);
    assert.deepEqual(interpolate('a ${SET', env).problems, ['unterminated "${" (write "$$" for a literal "$")']);
  });
});

describe('interpolation in a config file', () => {
  const text = [
    'cluster: ${CLUSTER:-demo}', // 1
    'node: ${POD_NAME}', // 2
    'jobs:', // 3
    '  report:', // 4
    '    schedule: "@daily"', // 5
    '    command: [./report, "--bucket=${BUCKET}", "--dry-run=$${DRY}"]', // 6
    '    env:', // 7
    '      ${KEY}: literal key', // 8
    '    cwd: /srv/${APP:-app}', // 9
  ].join('\n');

  it('expands every string value from the given env', () => {
    const config = parseConfig(text.replace('      ${KEY}: literal key\n', ''), 'c.yaml', {
      POD_NAME: 'web-7',
      BUCKET: 's3://b',
    });
    assert.equal(config.cluster, 'demo');
    assert.equal(config.node, 'web-7');
    assert.deepEqual(config.jobs[0]?.command, ['./report', '--bucket=s3://b', '--dry-run=${DRY}']);
    assert.equal(config.jobs[0]?.cwd, '/srv/app');
  });

  it('reports each unset variable at its scalar, and does not expand keys', () => {
    assert.throws(
      () => parseConfig(text, 'c.yaml', { APP: 'shop' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(
          err.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`),
          [
            'c.yaml:2:7: environment variable POD_NAME is not set',
            'c.yaml:6:25: environment variable BUCKET is not set',
            'c.yaml:8:7: invalid environment variable name "${KEY}"',
          ],
        );
        return true;
      },
    );
  });
});
