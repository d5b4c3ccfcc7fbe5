/** Thrown by parseJson for bodies that are valid JSON but carry prototype-pollution keys. */
export class ForbiddenKeyError extends Error {}

/**
 * JSON.parse that refuses prototype-pollution keys and unwraps kombu >= 5.3's
 * `{"__type__": ..., "__value__": ...}` wrappers (datetime, date, time, Decimal, UUID, bytes) to the
 * string kombu 5.2 sends for the same value, so a contract reads both alike.
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
    return isKombuWrapper(value) ? unwrapKombu(value) : value;
  });
}

interface KombuWrapper {
  readonly __type__: unknown;
  readonly __value__: unknown;
}

function isKombuWrapper(value: unknown): value is KombuWrapper {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 2 && keys.includes('__type__') && keys.includes('__value__');
}

/**
 * The plain value of a kombu wrapper. Every type kombu 5.6 registers carries its text in `__value__` (bytes as
 * UTF-8 text, or as base64 when not UTF-8), except UUID, which travels as `{"hex": "<32 hex digits>"}`: it
 * becomes the dashed form, as kombu 5.2 writes it. A type kombu does not know is left wrapped, as kombu does.
 */
function unwrapKombu(w: KombuWrapper): unknown {
  switch (w.__type__) {
    case 'uuid': {
      const hex = typeof w.__value__ === 'object' && w.__value__ !== null ? (w.__value__ as { hex?: unknown }).hex : w.__value__;
      const m = typeof hex === 'string' ? /^([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})$/i.exec(hex) : null;
      return m ? m.slice(1).join('-').toLowerCase() : w;
    }
    case 'datetime':
    case 'date':
    case 'time':
    case 'decimal':
    case 'bytes':
    case 'base64':
      return w.__value__;
    default:
      return w;
  }
}

function hasOwn(value: unknown, key: string): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, key);
}
