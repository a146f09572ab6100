import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

/**
 * Keeps the docs honest against the code: they stand on their own, the log messages the
 * troubleshooting page is keyed by are ones lockd logs, the metrics they name are ones lockd
 * exports, and their relative links lead somewhere.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Every file below `dir` (relative to the repository root) whose name ends with `ext`. */
function filesBelow(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesBelow(rel, ext));
    else if (entry.name.endsWith(ext)) out.push(rel);
  }
  return out.sort();
}

const read = (rel: string): string => readFileSync(path.join(root, rel), 'utf8');

/** README.md and every Markdown file under docs/. */
const docs = ['README.md', ...filesBelow('docs', '.md')];

/** Markdown without fenced code blocks (their contents are not links or references). */
const withoutFences = (text: string): string => text.replace(/^```[\s\S]*?^```/gm, '');

/**
 * The string and template literals of TypeScript source, with comments removed first, and each
 * `${…}` of a template replaced by `…`.
 */
export function stringLiterals(source: string): string[] {
  const literals: string[] = [];
  // One pass, so quotes inside comments and comment markers inside strings are both handled.
  const token = /\/\*[\s\S]*?\*\/|\/\/[^\n]*|'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\]|\\.)*)`/g;
  for (const m of source.matchAll(token)) {
    const text = m[1] ?? m[2] ?? m[3];
    if (text === undefined) continue;
    literals.push(m[3] === undefined ? text : text.replace(/\$\{[^}]*\}/g, '…'));
  }
  return literals;
}

/**
 * Whether a quoted log message (`…` for a varying part) is one of `literals`: the whole literal
 * must match, with `…` in the message standing for any text (including a `…` of the literal).
 */
export function messageMatches(message: string, literals: readonly string[]): boolean {
  const pattern = new RegExp(`^${message.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[\\s\\S]*')}$`);
  return literals.some((literal) => pattern.test(literal));
}

/** The log messages docs/troubleshooting.md is keyed by: headings made of one code span, metrics aside. */
export function troubleshootingKeys(markdown: string): string[] {
  return [...withoutFences(markdown).matchAll(/^#{2,4} `([^`]+)`\s*$/gm)].map((m) => m[1]!).filter((key) => !key.startsWith('lockd_'));
}

/** prom-client's default metrics that lockd exports with its `lockd_` prefix and the docs may name. */
const PROCESS_METRICS = new Set([
  'lockd_process_cpu_seconds_total',
  'lockd_process_resident_memory_bytes',
  'lockd_process_start_time_seconds',
  'lockd_process_open_fds',
  'lockd_nodejs_eventloop_lag_seconds',
  'lockd_nodejs_heap_size_used_bytes',
]);

/** The metric families lockd defines: `name: 'lockd_…'` in src/observe/. */
function exportedFamilies(): Set<string> {
  const names = new Set<string>(PROCESS_METRICS);
  for (const file of filesBelow('src/observe', '.ts')) {
    for (const m of read(file).matchAll(/name:\s*'(lockd_[a-z0-9_]+)'/g)) names.add(m[1]!);
  }
  return names;
}

/** Whether `name` is a family of `families`, or a histogram sample of one (`_bucket`, `_sum`, `_count`). */
export function isExported(name: string, families: ReadonlySet<string>): boolean {
  if (families.has(name)) return true;
  const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
  return base !== undefined && families.has(base);
}

/** Relative link targets of a Markdown text: `[text](target)` and `[label]: target`, external and pure anchors aside. */
export function relativeLinks(markdown: string): string[] {
  const text = withoutFences(markdown).replace(/`[^`\n]*`/g, '');
  const targets = [
    ...[...text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]!),
  ];
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'));
}

describe('docs', () => {
  it('do not depend on a design document outside the repository', () => {
    for (const file of docs) {
      const text = read(file);
      for (const needle of ['../shared', 'DESIGN.md', 'DESIGN §']) {
        assert.ok(!text.includes(needle), `${file} refers to "${needle}": restate what matters in docs/ instead`);
      }
    }
  });

  it('key docs/troubleshooting.md by messages lockd logs', () => {
    const keys = troubleshootingKeys(read('docs/troubleshooting.md'));
    assert.ok(keys.length >= 20, `only ${keys.length} log messages found as headings`);
    const literals = filesBelow('src', '.ts').flatMap((file) => stringLiterals(read(file)));
    for (const key of keys) {
      assert.ok((key.match(/[a-z]/gi) ?? []).length >= 4, `"${key}" is too vague to be a log message`);
      assert.ok(messageMatches(key, literals), `docs/troubleshooting.md: "${key}" is not a string literal in src/`);
    }
  });

  it('name only metrics lockd exports', () => {
    const families = exportedFamilies();
    assert.ok(families.has('lockd_is_leader') && families.has('lockd_job_runs_total'), 'metric families not found in src/observe');
    for (const file of docs) {
      for (const m of read(file).matchAll(/\blockd_[a-z0-9_]*[a-z0-9]/g)) {
        assert.ok(isExported(m[0], families), `${file}: ${m[0]} is not a metric lockd exports`);
      }
    }
  });

  it('link only to files that exist', () => {
    for (const file of docs) {
      for (const target of relativeLinks(read(file))) {
        const rel = decodeURIComponent(target.split('#')[0]!);
        const resolved = path.resolve(root, path.dirname(file), rel);
        assert.ok(existsSync(resolved) && statSync(resolved).isFile(), `${file}: link to ${target} leads to no file`);
      }
    }
  });

  it('helpers: literals, message patterns and links', () => {
    const source = "log.warn({ a }, 'plain one'); // 'in a comment'\n/* 'also comment' */ log.error(`slot ${outcome}: ${reason}`);";
    assert.deepEqual(stringLiterals(source), ['plain one', 'slot …: …']);
    assert.ok(messageMatches('slot …: …', ['slot …: …']));
    assert.ok(messageMatches('embedded backend: … is on a …', ['embedded backend: … is on a … filesystem. ']));
    assert.ok(!messageMatches('plain', ['plain one']));
    assert.deepEqual(relativeLinks('[a](docs/x.md#y) [b](https://e.org) [c](#z) `[d](no.md)`'), ['docs/x.md#y']);
  });
});
