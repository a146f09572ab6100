import { CONFIG_SPEC } from './config-spec.js';
import { DURATION_UNITS, formatDuration } from './duration.js';
import { SIZE_UNITS, formatSize } from './size.js';
import type { MappingSpec, Spec, VariantsSpec } from './spec.js';

/** A JSON Schema (draft-07) object. */
export type JsonSchema = { [keyword: string]: unknown };

/** Where the generated schema is committed and shipped, relative to the package root. */
export const SCHEMA_FILE = 'schema/lockd.schema.json';

/**
 * A `${VAR}` reference. The loader expands it before reading the value, so the schema accepts a
 * string holding one wherever a value may come from the environment, whatever the value's type.
 */
const REFERENCE = '\\$\\{';

/** Longest unit first, so `ms` is not read as `m` followed by `s`. */
const alternatives = (units: readonly string[]): string => [...units].sort((a, b) => b.length - a.length).join('|');
const DURATION = `^(?:0|(?:(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:${alternatives(DURATION_UNITS)}))+)$`;
const SIZE_UNIT = `(?:${alternatives(SIZE_UNITS)})`;
const SIZE = `^\\s*(?:\\d+\\s*${SIZE_UNIT}?|\\d+\\.\\d+\\s*${SIZE_UNIT})\\s*$`;

/**
 * The JSON Schema of lockd.yaml, generated from `CONFIG_SPEC`: every key with its description,
 * default, enum, bounds (for numbers) and pattern (for durations, sizes and names), unknown keys
 * refused, run XOR command, one shape per backend type. Deterministic: same spec, same object.
 */
export function configJsonSchema(): JsonSchema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'lockd.yaml',
    ...schemaOf(CONFIG_SPEC),
  };
}

/** `configJsonSchema()` as the text of `SCHEMA_FILE`. */
export function renderJsonSchema(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

function schemaOf(spec: Spec): JsonSchema {
  const { description } = spec;
  switch (spec.kind) {
    case 'string':
      return {
        type: 'string',
        description,
        ...(spec.pattern === undefined ? {} : { pattern: `${spec.pattern}|${REFERENCE}` }),
        ...(spec.default === undefined ? {} : { default: spec.default }),
      };
    case 'text':
      return { type: ['string', 'number', 'boolean', ...(spec.nullable ? ['null'] : [])], description };
    case 'duration':
      return {
        description: `${description}${durationRange(spec.min, spec.max)}`,
        anyOf: [{ type: 'string', pattern: `${DURATION}|${REFERENCE}` }, { const: 0 }],
        ...(spec.default === undefined ? {} : { default: formatDuration(spec.default) }),
      };
    case 'size':
      return {
        description: `${description} (${formatSize(spec.min)} to ${formatSize(spec.max)})`,
        anyOf: [
          { type: 'integer', minimum: spec.min, maximum: spec.max },
          { type: 'string', pattern: `${SIZE}|${REFERENCE}` },
        ],
        ...(spec.default === undefined ? {} : { default: formatSize(spec.default).replace(' ', '') }),
      };
    case 'integer':
      return {
        description,
        anyOf: [{ type: 'integer', minimum: spec.min, maximum: spec.max }, referenceString()],
        ...(spec.default === undefined ? {} : { default: spec.default }),
      };
    case 'enum':
      return {
        description,
        anyOf: [{ enum: spec.values }, referenceString()],
        ...(spec.default === undefined ? {} : { default: spec.default }),
      };
    case 'list':
      return { type: 'array', description, items: schemaOf(spec.items), ...(spec.minItems === undefined ? {} : { minItems: spec.minItems }) };
    case 'map':
      return { type: 'object', description, propertyNames: { pattern: spec.keyPattern }, additionalProperties: schemaOf(spec.values) };
    case 'mapping':
      return mappingSchema(spec);
    case 'variants':
      return variantsSchema(spec);
  }
}

function referenceString(): JsonSchema {
  return { type: 'string', pattern: REFERENCE };
}

function durationRange(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && min > 1 && max !== undefined) return ` (${formatDuration(min)} to ${formatDuration(max)})`;
  if (min !== undefined && min > 1) return ` (at least ${formatDuration(min)})`;
  if (min === 1) return ' (more than 0)';
  return '';
}

/** A fixed-key mapping; `extra` adds properties ahead of the spec's (a variant's tag). */
function mappingSchema(spec: MappingSpec, extra: Record<string, JsonSchema> = {}): JsonSchema {
  const properties: Record<string, JsonSchema> = { ...extra };
  for (const [name, value] of Object.entries(spec.keys)) properties[name] = schemaOf(value);
  const required = [...Object.keys(extra), ...(spec.required ?? [])];
  const together = spec.together ?? [];
  const exactlyOne = spec.exactlyOne ?? [];
  return {
    type: 'object',
    description: spec.description,
    properties,
    additionalProperties: false,
    ...(required.length === 0 ? {} : { required }),
    ...(together.length === 0 ? {} : { dependencies: Object.fromEntries(together.flatMap(([a, b]) => [[a, [b]], [b, [a]]])) }),
    ...(exactlyOne.length === 0 ? {} : { allOf: exactlyOne.map((group) => ({ oneOf: group.map((name) => ({ required: [name] })) })) }),
  };
}

/** One `if`/`then` per tag value: the tag picks the mapping the other keys must fit. */
function variantsSchema(spec: VariantsSpec): JsonSchema {
  const names = Object.keys(spec.variants);
  return {
    type: 'object',
    description: spec.description,
    properties: { [spec.tag]: { description: `One of ${names.join(', ')}`, enum: names } },
    required: [spec.tag],
    allOf: Object.entries(spec.variants).map(([name, variant]) => ({
      if: { properties: { [spec.tag]: { const: name } }, required: [spec.tag] },
      then: mappingSchema(variant, { [spec.tag]: { description: variant.description, const: name } }),
    })),
  };
}
