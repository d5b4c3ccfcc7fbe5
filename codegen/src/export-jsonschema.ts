import type { GeneratedFiles } from './generate.js';
import { readServices } from './generate.js';
import { jsonFile, plainSchema, type Json, type JsonObject } from './json.js';
import type { ContractSource, ServiceModel, TaskModel, VersionModel } from './model.js';

/**
 * Tuples are spelled differently by the two JSON Schema dialects in play: AsyncAPI 3.0's schemas are
 * draft-07 (`items: [...]`, `additionalItems`), standalone files are 2020-12 (`prefixItems`, `items`).
 */
export type Dialect = 'draft-07' | '2020-12';

const DRAFT_2020_12 = 'https://json-schema.org/draft/2020-12/schema';

/** A tuple of exactly these item schemas, in the dialect's own words. */
export function tuple(items: readonly JsonObject[], dialect: Dialect): JsonObject {
  const n = items.length;
  // Both meta-schemas want a non-empty item list: no items is just an empty array.
  if (n === 0) return { type: 'array', maxItems: 0 };
  return dialect === '2020-12'
    ? { type: 'array', prefixItems: items, items: false, minItems: n, maxItems: n }
    : { type: 'array', items, additionalItems: false, minItems: n, maxItems: n };
}

/** The positional arguments, in order, each titled by its name: what the body's first element must be. */
export function argsSchema(v: VersionModel, dialect: Dialect): JsonObject {
  const items = v.args.map((name) => ({ title: name, ...inDialect(plainSchema(v.schemas.args[name]!), dialect) }));
  return { ...tuple(items, dialect), 'x-arg-names': v.args };
}

/** The keyword arguments; like the runtime, a version without kwargs takes `{}` and unknown ones are refused. */
export function kwargsSchema(v: VersionModel, dialect: Dialect): JsonObject {
  const declared = v.schemas.kwargs ? inDialect(plainSchema(v.schemas.kwargs), dialect) : { type: 'object', properties: {} };
  return { ...declared, additionalProperties: false };
}

export function resultSchema(v: VersionModel, dialect: Dialect): JsonObject {
  return inDialect(plainSchema(v.schemas.result), dialect);
}

/** TypeBox writes tuples (Type.Tuple) the draft-07 way; 2020-12 reads an `items` array as an error. */
function inDialect(schema: JsonObject, dialect: Dialect): JsonObject {
  if (dialect === 'draft-07') return schema;
  const convert = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(convert);
    if (typeof node !== 'object' || node === null) return node;
    const o = node as JsonObject;
    const out: Record<string, Json> = Object.fromEntries(Object.entries(o).map(([k, x]) => [k, convert(x)]));
    if (Array.isArray(o['items'])) {
      out['prefixItems'] = out['items']!;
      delete out['items'];
      if (out['additionalItems'] !== undefined) out['items'] = out['additionalItems']!;
      delete out['additionalItems'];
    }
    return out;
  };
  return convert(schema) as JsonObject;
}

/**
 * Each task version's schemas as standalone JSON Schema 2020-12 files, for validators and other languages:
 * `<service>/<celery-name>.args.json` (and `.kwargs.json` when the version has kwargs) and `.result.json`.
 * Pure and deterministic: sorted keys, no dates.
 */
export function exportJsonSchemas(sources: readonly ContractSource[]): GeneratedFiles {
  const files = new Map<string, string>();
  for (const s of readServices(sources)) {
    for (const t of s.tasks) {
      for (const v of t.versions) {
        const file = (part: string, schema: JsonObject, what: string) =>
          files.set(`${s.service}/${v.name}.${part}.json`, jsonFile(annotate(schema, s, t, v, part, what)));
        file('args', argsSchema(v, '2020-12'), 'positional arguments');
        if (v.hasKwargs) file('kwargs', kwargsSchema(v, '2020-12'), 'keyword arguments');
        file('result', resultSchema(v, '2020-12'), 'result');
      }
    }
  }
  return files;
}

function annotate(schema: JsonObject, s: ServiceModel, t: TaskModel, v: VersionModel, part: string, what: string): JsonObject {
  const description = v.description ?? t.description;
  return {
    title: `${v.name} ${what}`,
    // The schema's own title and description, when it has them, say more than the task's.
    ...(description !== null ? { description } : {}),
    ...schema,
    $schema: DRAFT_2020_12,
    // A URN: stable, needs no host, and names the service and task unambiguously.
    $id: `urn:taskbus:${s.service}:${v.name}:${part}`,
    'x-taskbus': { service: s.service, task: t.key, version: v.version, queue: v.queue, queueType: v.queueType },
    ...(v.deprecated ? { deprecated: true } : {}),
  };
}
