/** Thrown by parseJson for bodies that are valid JSON but carry prototype-pollution keys. */
export class ForbiddenKeyError extends Error {}

/**
 * JSON.parse that refuses prototype-pollution keys and unwraps kombu >= 5.3's
 * `{"__type__": ..., "__value__": ...}` wrappers (datetime, Decimal, UUID, bytes) to their plain value,
 * which is what kombu 5.2 sends.
 */
export function parseJson(text: string): unknown {
  // The reviver costs a call per value; most bodies contain none of the keys it looks for, written
  // plainly or through \u escapes.
  if (!text.includes('__') && !text.includes('constructor') && !text.includes('\\u')) return JSON.parse(text);
  return JSON.parse(text, function revive(key: string, value: unknown): unknown {
    // The two shapes that reach Object.prototype once a parsed value is merged into another object.
    if (key === '__proto__' || (key === 'constructor' && hasOwn(value, 'prototype'))) {
      throw new ForbiddenKeyError(`forbidden key "${key}" in JSON body`);
    }
    if (isKombuWrapper(value)) return value.__value__;
    return value;
  });
}

function isKombuWrapper(value: unknown): value is { __type__: string; __value__: unknown } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 2 && keys.includes('__type__') && keys.includes('__value__');
}

function hasOwn(value: unknown, key: string): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, key);
}
