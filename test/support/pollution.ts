/**
 * The recursive merge that turns a parsed `__proto__` or `constructor.prototype` key into a polluted
 * Object.prototype (as lodash.merge < 4.17.5 did). JSON.parse alone never pollutes: it makes `__proto__`
 * an own key, and the harm comes when such a value is merged later, which is what the decoder must prevent.
 */
export function naiveMerge(target: Record<string, unknown>, source: unknown): Record<string, unknown> {
  if (typeof source !== 'object' || source === null) return target;
  for (const [key, value] of Object.entries(source)) {
    if (typeof value === 'object' && value !== null) {
      const into = target[key];
      naiveMerge((typeof into === 'object' || typeof into === 'function') && into !== null ? (into as Record<string, unknown>) : (target[key] = {}), value);
    } else {
      target[key] = value;
    }
  }
  return target;
}

/** Own keys named `__proto__` anywhere in a value (JSON.parse creates them; a safe decoder never hands one on). */
export function protoKeys(value: unknown, path = '$'): string[] {
  if (typeof value !== 'object' || value === null) return [];
  const own = Object.hasOwn(value, '__proto__') ? [`${path}.__proto__`] : [];
  return [...own, ...Object.entries(value).flatMap(([k, v]) => protoKeys(v, `${path}.${k}`))];
}

/** Runs `use`, then says whether it polluted Object.prototype with `key`, and undoes it so later tests are unaffected. */
export function pollutes(key: string, use: () => void): boolean {
  try {
    use();
    return key in {};
  } finally {
    delete (Object.prototype as Record<string, unknown>)[key];
  }
}
