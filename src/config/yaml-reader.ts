import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type ParsedNode } from 'yaml';
import type { ConfigProblem } from '../errors.js';
import { parseDuration, formatDuration } from './duration.js';
import { interpolate } from './interpolate.js';
import { formatSize, parseSize } from './size.js';
import type { DurationSpec, IntegerSpec, SizeSpec } from './spec.js';
import { closest } from './suggest.js';

/**
 * One key of a mapping (or one item of a list, which is then its own `key`). `value` is
 * undefined when the YAML value is null or empty: lockd treats `key:` like a missing key.
 */
export interface Entry {
  name: string;
  key: ParsedNode;
  value: ParsedNode | undefined;
}

/**
 * Reads values out of a parsed YAML document while collecting every problem with the 1-based
 * line:col of the node at fault. Readers never throw: a bad value is recorded and read as
 * undefined, so one pass finds all problems. `${VAR}` expansion happens here, on each string
 * scalar as it is read, so positions stay those of the file.
 */
export class ConfigReader {
  readonly problems: ConfigProblem[] = [];

  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    private readonly file: string,
    readonly env: NodeJS.ProcessEnv,
    /** `'api'` when the document renders a program's options rather than a file (see parseConfig). */
    readonly origin: 'file' | 'api' = 'file',
  ) {}

  /** Records a problem at the start of `node`, or at 1:1 when there is no node. */
  report(node: ParsedNode | undefined, message: string): void {
    const { line, col } = node?.range ? this.lines.linePos(node.range[0]) : { line: 1, col: 1 };
    this.problems.push({ file: this.file, line, col, message });
  }

  /** Records a problem at the entry's value, or at its key when the value is empty. */
  reportValue(entry: Entry, message: string): void {
    this.report(entry.value ?? entry.key, message);
  }

  /** The node an alias points to; null scalars become undefined (absent). */
  resolve(node: ParsedNode | null | undefined): ParsedNode | undefined {
    const target = isAlias(node) ? (node.resolve(this.doc) as ParsedNode | undefined) : (node ?? undefined);
    return isScalar(target) && target.value === null ? undefined : target;
  }

  /**
   * The entries of a mapping in file order, keyed by name; empty for an absent value, undefined
   * (reported) for a value that is not a mapping. Reports keys that are not plain scalars,
   * duplicate keys (the first one wins) and, when `known` is given, unknown keys (see
   * `rejectUnknown`).
   */
  mapping(entry: Entry | undefined, known?: readonly string[]): Map<string, Entry> | undefined {
    const entries = new Map<string, Entry>();
    const node = entry?.value;
    if (entry === undefined || node === undefined) return entries;
    if (!isMap(node)) {
      this.reportValue(entry, `expected a mapping, got ${describe(node)}`);
      return undefined;
    }
    for (const pair of node.items) {
      const key = pair.key as ParsedNode | null;
      if (!isScalar(key) || key.value === null) {
        this.report(key ?? this.resolve(pair.value as ParsedNode | null), 'expected a plain key name');
        continue;
      }
      const name = typeof key.value === 'string' ? key.value : (key.source ?? String(key.value));
      if (entries.has(name)) {
        this.report(key, `duplicate key "${name}"`);
        continue;
      }
      entries.set(name, { name, key, value: this.resolve(pair.value as ParsedNode | null) });
    }
    if (known) this.rejectUnknown(entries, known);
    return entries;
  }

  /**
   * Reports each key not in `known`, suggesting the likely intended key, and removes it, for
   * mappings whose allowed keys depend on one of their values (a backend's `type`).
   */
  rejectUnknown(entries: Map<string, Entry>, known: readonly string[]): void {
    for (const [name, entry] of entries) {
      if (known.includes(name)) continue;
      this.report(entry.key, unknownKeyMessage(name, known));
      entries.delete(name);
    }
  }

  /**
   * The items of a list as entries named `<name>[i]`; empty for an absent value, undefined
   * (reported) for a value that is not a list. Empty items are reported and left out.
   */
  list(entry: Entry | undefined): Entry[] | undefined {
    const node = entry?.value;
    if (entry === undefined || node === undefined) return [];
    if (!isSeq(node)) {
      this.reportValue(entry, `expected a list, got ${describe(node)}`);
      return undefined;
    }
    const items: Entry[] = [];
    node.items.forEach((item, i) => {
      const value = this.resolve(item as ParsedNode | null);
      if (value === undefined) this.report((item ?? node) as ParsedNode, 'empty list item');
      else items.push({ name: `${entry.name}[${i}]`, key: value, value });
    });
    return items;
  }

  /** A string scalar, `${VAR}`-expanded; anything else is reported. */
  string(entry: Entry | undefined): string | undefined {
    return this.expand(entry, false)?.value;
  }

  /**
   * A scalar as text: strings are `${VAR}`-expanded, numbers and booleans keep their spelling
   * in the file (`1.10` stays `1.10`). For env values and argv items.
   */
  text(entry: Entry | undefined): string | undefined {
    return this.expand(entry, true)?.value;
  }

  /** A duration in ms (see `parseDuration`), within the spec's bounds. */
  duration(entry: Entry | undefined, bounds: DurationSpec): number | undefined {
    const node = entry?.value;
    if (entry === undefined || node === undefined) return undefined;
    const isString = isScalar(node) && typeof node.value === 'string';
    // A bare 0 is a duration, as in Go; any other number lacks its unit.
    if (!isString && !(isScalar(node) && node.source === '0')) {
      this.reportValue(entry, `expected a duration like "10s", got ${describe(node)}`);
      return undefined;
    }
    const text = isString ? this.string(entry) : '0';
    if (text === undefined) return undefined;
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch (err) {
      this.reportValue(entry, err instanceof Error ? err.message : String(err));
      return undefined;
    }
    const { min, max } = bounds;
    if (min !== undefined && ms < min) return this.outOfRange(entry, `at least ${formatDuration(min)}`, formatDuration(ms));
    if (max !== undefined && ms > max) return this.outOfRange(entry, `at most ${formatDuration(max)}`, formatDuration(ms));
    return ms;
  }

  /**
   * A size in bytes within the spec's [min, max]: a string such as `512MiB` (see `parseSize`) or a bare
   * integer of bytes.
   */
  size(entry: Entry | undefined, bounds: SizeSpec): number | undefined {
    const node = entry?.value;
    if (entry === undefined || node === undefined) return undefined;
    let bytes: number;
    if (isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value)) {
      bytes = node.value;
    } else if (isScalar(node) && typeof node.value === 'string') {
      const text = this.string(entry);
      if (text === undefined) return undefined;
      try {
        bytes = parseSize(text);
      } catch (err) {
        this.reportValue(entry, err instanceof Error ? err.message : String(err));
        return undefined;
      }
    } else {
      this.reportValue(entry, `expected a size like "512MiB", got ${describe(node)}`);
      return undefined;
    }
    if (bytes < bounds.min) return this.outOfRange(entry, `at least ${formatSize(bounds.min)}`, formatSize(bytes));
    if (bytes > bounds.max) return this.outOfRange(entry, `at most ${formatSize(bounds.max)}`, formatSize(bytes));
    return bytes;
  }

  /**
   * An integer within the spec's [min, max]. A string is accepted only when it came from `${VAR}`
   * expansion (YAML cannot type an expanded value) and reads as a whole number.
   */
  integer(entry: Entry | undefined, { min, max }: IntegerSpec): number | undefined {
    const node = entry?.value;
    if (entry === undefined || node === undefined) return undefined;
    let value: unknown = isScalar(node) ? node.value : undefined;
    if (typeof value === 'string') {
      const expansion = this.expand(entry, false);
      if (expansion === undefined) return undefined;
      if (expansion.expanded && /^\d+$/.test(expansion.value)) value = Number(expansion.value);
    }
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.reportValue(entry, `expected an integer, got ${describe(node)}`);
      return undefined;
    }
    if (value < min || value > max) return this.outOfRange(entry, `between ${min} and ${max}`, String(value));
    return value;
  }

  /** One of a fixed set of strings; the message lists them. */
  oneOf<T extends string>(entry: Entry | undefined, allowed: readonly T[]): T | undefined {
    const value = this.string(entry);
    if (entry === undefined || value === undefined) return undefined;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.reportValue(entry, `expected one of ${allowed.join(', ')}, got "${value}"`);
    return undefined;
  }

  /**
   * The entry `name`, or undefined after reporting `<prefix>missing required key "name"` at the
   * parent's key. An empty value (`name:`) counts as missing.
   */
  require(entries: Map<string, Entry>, name: string, parent: Entry | undefined, prefix = ''): Entry | undefined {
    const entry = entries.get(name);
    if (entry?.value !== undefined) return entry;
    this.report(parent?.key, `${prefix}missing required key "${name}"`);
    return undefined;
  }

  private outOfRange(entry: Entry, bound: string, got: string): undefined {
    this.reportValue(entry, `must be ${bound}, got ${got}`);
    return undefined;
  }

  private expand(entry: Entry | undefined, anyScalar: boolean): { value: string; expanded: boolean } | undefined {
    const node = entry?.value;
    if (entry === undefined || node === undefined) return undefined;
    if (isScalar(node) && typeof node.value === 'string') {
      const { value, problems, expanded } = interpolate(node.value, this.env);
      for (const problem of problems) this.report(node, problem);
      return problems.length === 0 ? { value, expanded } : undefined;
    }
    if (anyScalar && isScalar(node)) return { value: node.source ?? String(node.value), expanded: false };
    this.reportValue(entry, `expected a string, got ${describe(node)}`);
    return undefined;
  }
}

function unknownKeyMessage(name: string, known: readonly string[]): string {
  if (name === '<<') return 'merge keys ("<<") are not supported';
  const suggestion = closest(name, known);
  return `unknown key "${name}"${suggestion === undefined ? '' : `; did you mean "${suggestion}"?`}`;
}

/** How a value is shown after "got": strings quoted, other scalars as spelled in the file. */
function describe(node: ParsedNode): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return typeof node.value === 'string' ? JSON.stringify(node.value) : (node.source ?? String(node.value));
  return 'an alias';
}
