import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');

/** The TypeScript example of the README's "Use lockd from Node" section. */
function readmeExample(): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use lockd from Node'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(match?.[1], 'the README has a ts example under "Use lockd from Node"');
  return match[1];
}

/**
 * `npm pack` of the built package, installed into an empty project as a user would (npm install
 * of the tarball); the native module of better-sqlite3 is copied from this checkout instead of
 * being compiled again (minutes on two cores), which is not what this test is about.
 */
describe('packaging: the npm tarball is the CLI and a typed library', { timeout: 300_000 }, () => {
  let dir: string;
  let files: string[];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lockd-pack-'));
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: repo });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');
    files = (await run('tar', ['-tzf', join(dir, tarball)])).stdout.trim().split('\n');
    const app = join(dir, 'app');
    cpSync(join(repo, 'test', 'fixtures', 'consumer'), app, { recursive: true });
    const nodeTypes = (JSON.parse(readFileSync(join(repo, 'node_modules', '@types', 'node', 'package.json'), 'utf8')) as { version: string }).version;
    await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tarball), `@types/node@${nodeTypes}`], { cwd: app });
    cpSync(join(repo, 'node_modules', 'better-sqlite3', 'build'), join(app, 'node_modules', 'better-sqlite3', 'build'), { recursive: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the built code, the CLI, the schema and the docs a user reads, and no sources, tests or dev files', () => {
    const top = new Set(files.map((f) => f.split('/')[1]));
    assert.deepEqual([...top].sort(), ['README.md', 'bin', 'config.example.yaml', 'dist', 'package.json', 'schema']);
    assert.ok(files.includes('package/dist/index.d.ts') && files.includes('package/dist/index.js'));
    assert.deepEqual(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), []);
  });

  it('the README example typechecks against the installed types and runs on the embedded backend', async () => {
    const app = join(dir, 'app');
    writeFileSync(join(app, 'main.ts'), readmeExample());
    await run(process.execPath, [tsc, '-p', app], { cwd: app });
    const { stdout } = await run(process.execPath, [join(app, 'out', 'main.js')], { cwd: app });
    assert.match(stdout, /invoice 42 issued under token \d+ \[ 'stock-a', 'stock-b' \]/);
  });

  it('the types are real: a wrong call is a compile error', async () => {
    const app = join(dir, 'app');
    writeFileSync(join(app, 'main.ts'), "import { connect } from 'lockd';\nconst lockd = await connect({ cluster: 'x' });\nawait lockd.withLock(42, {}, () => 1);\n");
    await assert.rejects(run(process.execPath, [tsc, '-p', app], { cwd: app }), (err: { stdout?: string }) => /TS2345/.test(err.stdout ?? ''));
  });

  it('npx lockd runs the installed CLI', async () => {
    const { stdout } = await run('npx', ['--no-install', 'lockd', 'validate', '--help'], { cwd: join(dir, 'app') });
    assert.match(stdout, /validate/);
  });
});
