/**
 * The declarative shape of lockd.yaml: which keys each mapping has, what kind of value each takes,
 * its bounds, allowed values and default, and a one-line description. The readers (schema.ts,
 * job-schema.ts, backend-schema.ts) take their key lists, enum values, bounds and defaults from
 * here, and json-schema.ts turns the same objects into the editor schema, so a key added here is
 * both read and published. Checks JSON Schema cannot express (cron syntax, time zones, addresses,
 * `${VAR}` expansion, run XOR command as lockd reads an empty value) stay in the readers.
 *
 * Durations and sizes are in ms and bytes here; every `default` is what the reader uses when the
 * key is absent or empty. A key without `default` either has none or one computed from other keys
 * (its description says which).
 */

interface Described {
  /** One line for editors' hover text. */
  description: string;
}

/** A string scalar, `${VAR}`-expanded. `pattern` (a JS regex source) applies to the expanded text. */
export interface StringSpec extends Described {
  kind: 'string';
  default?: string;
  pattern?: string;
}

/** Any scalar read as text: strings expanded, numbers and booleans as spelled (argv items, env values). */
export interface TextSpec extends Described {
  kind: 'text';
  /** An empty value is allowed and means "not set" (an env variable the child inherits). */
  nullable?: true;
}

/** A Go-style duration such as `1h30m` (see duration.ts), in ms, optionally bounded. */
export interface DurationSpec extends Described {
  kind: 'duration';
  min?: number;
  max?: number;
  default?: number;
}

/** A size such as `512MiB` or a bare integer of bytes (see size.ts), in bytes, bounded. */
export interface SizeSpec extends Described {
  kind: 'size';
  min: number;
  max: number;
  default?: number;
}

/** A whole number in [min, max]. */
export interface IntegerSpec extends Described {
  kind: 'integer';
  min: number;
  max: number;
  default?: number;
}

/** One of a fixed set of strings. */
export interface EnumSpec<T extends string = string> extends Described {
  kind: 'enum';
  values: readonly T[];
  default?: T;
}

/** A list whose items all have one shape. */
export interface ListSpec extends Described {
  kind: 'list';
  items: Spec;
  minItems?: number;
}

/** A mapping with names chosen by the user (`keyPattern`, a JS regex source), all values of one shape. */
export interface MapSpec extends Described {
  kind: 'map';
  keyPattern: string;
  values: Spec;
}

/** A mapping with a fixed set of keys, in the order lockd suggests them. */
export interface MappingSpec<K extends string = string> extends Described {
  kind: 'mapping';
  keys: Readonly<Record<K, Spec>>;
  required?: readonly K[];
  /** Pairs of keys that must be set together or not at all. */
  together?: readonly (readonly [K, K])[];
  /** Groups of keys of which exactly one must be set. */
  exactlyOne?: readonly (readonly K[])[];
}

/** A mapping whose keys depend on its `tag` key (a backend's `type`): one mapping per tag value. */
export interface VariantsSpec<T extends string = string> extends Described {
  kind: 'variants';
  tag: string;
  /** Keys of each variant besides the tag. */
  variants: Readonly<Record<T, MappingSpec>>;
}

export type Spec =
  | StringSpec
  | TextSpec
  | DurationSpec
  | SizeSpec
  | IntegerSpec
  | EnumSpec
  | ListSpec
  | MapSpec
  | MappingSpec
  | VariantsSpec;

/** The key names of a mapping, in spec order, for `ConfigReader.mapping`. */
export function keyNames<S extends MappingSpec>(spec: S): Extract<keyof S['keys'], string>[] {
  return Object.keys(spec.keys) as Extract<keyof S['keys'], string>[];
}

/** The tag values of a variants spec, in spec order. */
export function variantNames<T extends string>(spec: VariantsSpec<T>): T[] {
  return Object.keys(spec.variants) as T[];
}
