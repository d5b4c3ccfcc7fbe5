import { canonical } from './json.js';

/**
 * How a JSON Schema (TypeBox schemas are JSON Schema) changed, as the set of values it accepts:
 * `narrowed` accepts less, `widened` accepts more, `added` is a new optional property, `changed` is neither.
 * Whether that breaks anyone depends on the side: an argument may widen, a result may narrow (compat.ts).
 */
export type Direction = 'narrowed' | 'widened' | 'added' | 'changed';

export interface Finding {
  readonly direction: Direction;
  /** e.g. `argument 'key': minLength raised from 1 to 3` */
  readonly text: string;
}

type Json = Readonly<Record<string, unknown>>;

/** Raising these accepts less; lowering them accepts more. */
const LOWER_BOUNDS = ['minLength', 'minimum', 'exclusiveMinimum', 'minItems', 'minProperties'];
/** Lowering these accepts less. */
const UPPER_BOUNDS = ['maxLength', 'maximum', 'exclusiveMaximum', 'maxItems', 'maxProperties'];
/** Added: accepts less; removed: accepts more; changed: a different set altogether. */
const EXACT = ['pattern', 'format', 'multipleOf', 'const', 'uniqueItems'];
/** Documentation only: no value is accepted or refused because of them. */
const ANNOTATIONS = new Set(['description', 'title', 'default', 'examples', '$id', '$comment', 'readOnly', 'writeOnly', 'deprecated']);
const HANDLED = new Set([
  ...LOWER_BOUNDS,
  ...UPPER_BOUNDS,
  ...EXACT,
  ...ANNOTATIONS,
  'type',
  'anyOf',
  'enum',
  'properties',
  'required',
  'additionalProperties',
  'patternProperties',
  'items',
  'additionalItems',
]);

/** Labels of the places inside a schema, so a finding reads `kwarg 'quality'` or `result field 'etag'`. */
export interface Place {
  readonly label: string;
  /** The label of a property of this place. */
  child(key: string): Place;
}

export function place(label: string, childLabel: (key: string) => string = (key) => `${label}.${key}`): Place {
  return { label, child: (key) => place(childLabel(key)) };
}

/** Findings, in schema order, of how `b` accepts values compared with `a`. */
export function diffSchema(a: unknown, b: unknown, at: Place): Finding[] {
  const out: Finding[] = [];
  compare(asJson(a), asJson(b), at, out);
  return out;
}

function compare(a: Json, b: Json, at: Place, out: Finding[]): void {
  if (canonical(a) === canonical(b)) return;
  const say = (direction: Direction, what: string): void => {
    out.push({ direction, text: `${at.label}: ${what}` });
  };

  if (a['anyOf'] !== undefined || b['anyOf'] !== undefined) return compareAlternatives(alternatives(a), alternatives(b), at, out);
  if (a['enum'] !== undefined || b['enum'] !== undefined) {
    return compareAlternatives(enumAlternatives(a), enumAlternatives(b), at, out);
  }

  const ta = types(a);
  const tb = types(b);
  if (canonical(ta) !== canonical(tb)) {
    const shown = (t: readonly string[] | null) => (t ? t.join(' | ') : 'any');
    if (covers(tb, ta)) say('widened', `type widened from ${shown(ta)} to ${shown(tb)}`);
    else if (covers(ta, tb)) say('narrowed', `type narrowed from ${shown(ta)} to ${shown(tb)}`);
    else {
      // Unrelated types: their other keywords are not worth comparing.
      say('changed', `type changed from ${shown(ta)} to ${shown(tb)}`);
      return;
    }
  }

  for (const k of LOWER_BOUNDS) bound(k, a[k], b[k], (x, y) => y > x, say);
  for (const k of UPPER_BOUNDS) bound(k, a[k], b[k], (x, y) => y < x, say);
  for (const k of EXACT) {
    const [x, y] = [a[k], b[k]];
    if (canonical(x) === canonical(y)) continue;
    if (y === undefined) say('widened', `${k} ${show(x)} removed`);
    else if (x === undefined) say('narrowed', `${k} ${show(y)} added`);
    else say('changed', `${k} changed from ${show(x)} to ${show(y)}`);
  }
  compareObjects(a, b, at, say, out);
  compareItems(a, b, at, say, out);
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!HANDLED.has(k) && canonical(a[k]) !== canonical(b[k])) say('changed', `${k} changed`);
  }
}

function compareObjects(a: Json, b: Json, at: Place, say: (d: Direction, what: string) => void, out: Finding[]): void {
  const pa = asJson(a['properties']);
  const pb = asJson(b['properties']);
  const ra = new Set(asStrings(a['required']));
  const rb = new Set(asStrings(b['required']));
  const closedA = a['additionalProperties'] === false;
  for (const key of Object.keys(pa)) {
    const child = at.child(key);
    if (!(key in pb)) {
      // Never safe: a result's readers lose it, and TypeScript callers that pass it no longer compile
      // (excess property check), even where the JSON Schema would still accept it.
      out.push({ direction: 'changed', text: `${child.label} removed` });
      continue;
    }
    if (!ra.has(key) && rb.has(key)) out.push({ direction: 'narrowed', text: `${child.label} made required` });
    if (ra.has(key) && !rb.has(key)) out.push({ direction: 'widened', text: `${child.label} made optional` });
    compare(asJson(pa[key]), asJson(pb[key]), child, out);
  }
  for (const key of Object.keys(pb)) {
    if (key in pa) continue;
    const child = at.child(key);
    // An object that was closed refused the key: old validators (a caller checking a result) refuse it still.
    if (rb.has(key)) out.push({ direction: closedA ? 'changed' : 'narrowed', text: `${child.label} added as required` });
    else out.push({ direction: closedA ? 'widened' : 'added', text: `${child.label} added (optional)` });
  }
  const xa = a['additionalProperties'];
  const xb = b['additionalProperties'];
  if (canonical(xa) !== canonical(xb)) {
    if (xb === false) say('narrowed', 'additionalProperties closed');
    else if (xa === false || xb === undefined || xb === true) say('widened', 'additionalProperties opened');
    else if (xa === undefined || xa === true) say('narrowed', 'additionalProperties restricted to a schema');
    else compare(asJson(xa), asJson(xb), at.child('*'), out);
  }
  const ppa = asJson(a['patternProperties']);
  const ppb = asJson(b['patternProperties']);
  for (const key of new Set([...Object.keys(ppa), ...Object.keys(ppb)])) {
    if (!(key in ppb)) say('widened', `patternProperties ${show(key)} removed`);
    else if (!(key in ppa)) say('narrowed', `patternProperties ${show(key)} added`);
    else compare(asJson(ppa[key]), asJson(ppb[key]), at.child('*'), out);
  }
}

function compareItems(a: Json, b: Json, at: Place, say: (d: Direction, what: string) => void, out: Finding[]): void {
  const [ia, ib] = [a['items'], b['items']];
  if (Array.isArray(ia) && Array.isArray(ib)) {
    ia.forEach((s, i) => i < ib.length && compare(asJson(s), asJson(ib[i]), at.child(`[${i}]`), out));
  } else if (ia !== undefined && ib !== undefined && !Array.isArray(ia) && !Array.isArray(ib)) {
    compare(asJson(ia), asJson(ib), at.child('[]'), out);
  } else if (canonical(ia) !== canonical(ib)) {
    say(ib === undefined ? 'widened' : ia === undefined ? 'narrowed' : 'changed', 'items changed');
  }
  const [xa, xb] = [a['additionalItems'], b['additionalItems']];
  if (xa !== false && xb === false) say('narrowed', 'additionalItems closed');
  if (xa === false && xb !== false) say('widened', 'additionalItems opened');
}

/** A union's members (anyOf), matched by value for literals, else by type; one member pair of a type is compared in depth. */
function compareAlternatives(a: readonly Json[], b: readonly Json[], at: Place, out: Finding[]): void {
  const key = (s: Json) => canonical(s);
  const inB = new Set(b.map(key));
  const inA = new Set(a.map(key));
  const removed = a.filter((s) => !inB.has(key(s)));
  const added = b.filter((s) => !inA.has(key(s)));
  for (const r of removed) {
    const sameType = added.filter((s) => s['const'] === undefined && canonical(types(s)) === canonical(types(r)));
    if (r['const'] === undefined && sameType.length === 1 && removed.filter((s) => canonical(types(s)) === canonical(types(r))).length === 1) {
      compare(r, sameType[0]!, at, out);
      added.splice(added.indexOf(sameType[0]!), 1);
    } else {
      out.push({ direction: 'narrowed', text: `${at.label}: ${alternative(r)} removed` });
    }
  }
  for (const s of added) out.push({ direction: 'widened', text: `${at.label}: ${alternative(s)} added` });
}

function alternatives(s: Json): Json[] {
  return Array.isArray(s['anyOf']) ? s['anyOf'].map(asJson) : [s];
}

function enumAlternatives(s: Json): Json[] {
  return Array.isArray(s['enum']) ? s['enum'].map((v) => ({ const: v })) : [s];
}

function alternative(s: Json): string {
  if (s['const'] !== undefined) return `value ${show(s['const'])}`;
  const t = types(s);
  return `alternative ${t ? t.join(' | ') : canonical(s)}`;
}

function bound(k: string, x: unknown, y: unknown, tighter: (x: number, y: number) => boolean, say: (d: Direction, what: string) => void): void {
  if (x === y) return;
  if (typeof x !== 'number') say('narrowed', `${k} ${show(y)} added`);
  else if (typeof y !== 'number') say('widened', `${k} ${show(x)} removed`);
  else if (tighter(x, y)) say('narrowed', `${k} ${tighterWord(k)} from ${x} to ${y}`);
  else say('widened', `${k} ${tighterWord(k) === 'raised' ? 'lowered' : 'raised'} from ${x} to ${y}`);
}

function tighterWord(k: string): 'raised' | 'lowered' {
  return LOWER_BOUNDS.includes(k) ? 'raised' : 'lowered';
}

/** The JSON types a schema allows; null for any type. An integer is a number. */
function types(s: Json): string[] | null {
  const t = s['type'];
  if (typeof t === 'string') return [t];
  if (Array.isArray(t)) return asStrings(t).sort();
  return null;
}

/** True when every type in `inner` is allowed by `outer`. */
function covers(outer: readonly string[] | null, inner: readonly string[] | null): boolean {
  if (outer === null) return true;
  if (inner === null) return false;
  return inner.every((t) => outer.includes(t) || (t === 'integer' && outer.includes('number')));
}

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : JSON.stringify(v);
}

function asJson(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
