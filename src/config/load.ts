import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LineCounter, parseDocument, type ParsedNode, type YAMLError } from 'yaml';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { readConfig } from './schema.js';
import type { LockdConfig } from './types.js';
import { ConfigReader } from './yaml-reader.js';

/**
 * Reads and validates a config file. Throws ConfigError listing EVERY problem (file order).
 * A file that cannot be read (missing, a directory, no permission) is one problem at 1:1 whose
 * message names the OS error. Problems name `path` as given; `LockdConfig.file` is absolute.
 * `env` (default `process.env`) feeds `${VAR}` expansion and `LOCKD_LOG_LEVEL`.
 */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<LockdConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError([{ file: path, line: 1, col: 1, message: `cannot read config file: ${why}` }]);
  }
  return parseConfig(text, path, env);
}

/**
 * Same, from text; `file` is used in messages and to resolve nothing else. YAML syntax errors
 * are reported alone: the schema is not checked on a document whose structure the parser had
 * to guess, as that would bury the real mistake under follow-on noise. `origin: 'api'`: the text
 * renders options a program passed (`connect()`), not a file, so secrets in it are not refused.
 */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env, origin: 'file' | 'api' = 'file'): LockdConfig {
  const lineCounter = new LineCounter();
  // Duplicate keys are found by the reader, which can name the key; the parser's check could not.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const at = (error: YAMLError, message: string): ConfigProblem => ({
    file,
    ...lineCounter.linePos(error.pos[0]),
    message,
  });
  if (doc.errors.length > 0) {
    throw new ConfigError(sorted(doc.errors.map((error) => at(error, syntaxMessage(error)))));
  }
  const reader = new ConfigReader(doc, lineCounter, file, env, origin);
  const config = readConfig(reader, reader.resolve(doc.contents as ParsedNode | null), resolve(file));
  // Warnings (an unknown tag such as `!secret`) mean the file does not say what its author thinks.
  const problems = [...doc.warnings.map((warning) => at(warning, warning.message)), ...reader.problems];
  if (problems.length > 0) throw new ConfigError(sorted(problems));
  return config;
}

function syntaxMessage(error: YAMLError): string {
  if (error.code === 'MULTIPLE_DOCS') return 'a config file holds a single YAML document (remove the "---")';
  return `YAML syntax error: ${error.message}`;
}

/** By position (a stable sort keeps the order of problems at one position), without exact repeats. */
function sorted(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return [...problems]
    .sort((a, b) => a.line - b.line || a.col - b.col)
    .filter((problem) => {
      const key = `${problem.line}:${problem.col}:${problem.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}
