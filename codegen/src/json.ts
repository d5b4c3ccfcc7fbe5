import type { TSchema } from '@sinclair/typebox';

/** A JSON value as the exports emit it. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };

/**
 * JSON with every object's keys sorted, so two schemas built in a different key order compare equal and
 * exported files are byte-identical run to run. Symbols (TypeBox's kinds) are left out.
 */
export function canonical(v: unknown, indent?: number): string {
  return (
    JSON.stringify(
      v,
      (_, x: unknown) =>
        typeof x === 'object' && x !== null && !Array.isArray(x)
          ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Record<string, unknown>)[k]]))
          : x,
      indent,
    ) ?? 'undefined'
  );
}

/** A JSON file's text: sorted keys, two-space indent, LF, a final newline. */
export function jsonFile(v: Json): string {
  return canonical(v, 2) + '\n';
}

/** A TypeBox schema as the plain JSON Schema it stands for: TypeBox's symbol-keyed kinds and modifiers dropped. */
export function plainSchema(s: TSchema): JsonObject {
  return JSON.parse(JSON.stringify(s)) as JsonObject;
}
