import { redactUrls, scrubSecrets } from './redact.js';

// How one log line is written, text or JSON: pure, so tests check it byte by byte. Every string of the
// message and the fields (nested ones and error messages included) loses URL credentials and known secrets.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogRecord {
  readonly time: Date;
  readonly level: LogLevel;
  /** The logger's name, e.g. `taskbus-worker`. */
  readonly name: string;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>> | undefined;
}

/** Field names whose values are never written, whatever they hold. */
const SECRET_KEY = /pass(word|wd)?$|secret|token|authori[sz]ation|api[-_]?key|cookie|credential/i;
/** Names a JSON line uses itself: a field so named is written with a leading underscore. */
const RESERVED = new Set(['time', 'level', 'logger', 'message']);
const MAX_DEPTH = 6;
const MASK = '***';

/** A string without URL credentials or any of `secrets` (longest first); cheap when there is nothing to find. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text.includes('://') ? redactUrls(text) : text;
  // includes() first: a line usually holds no secret, and split/join allocates even when nothing matches.
  for (const secret of secrets) if (out.includes(secret)) out = scrubSecrets(out, [secret]);
  return out;
}

/** A value safe to serialise: strings redacted, errors as name/message/code, cycles, bigints and depth bounded. */
export function cleanValue(value: unknown, secrets: readonly string[], depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  switch (typeof value) {
    case 'string':
      return redactText(value, secrets);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
      return null;
    case 'function':
    case 'symbol':
      return String(value);
  }
  if (value === null) return null;
  const object = value as object;
  if (seen.has(object)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[too deep]';
  seen.add(object);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: redactText(value.message, secrets), ...(code !== undefined ? { code: cleanValue(code, secrets, depth + 1, seen) } : {}) };
  }
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  if (Array.isArray(value)) return value.map((v: unknown) => cleanValue(v, secrets, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(object)) out[k] = SECRET_KEY.test(k) ? MASK : cleanValue(v, secrets, depth + 1, seen);
  return out;
}

/** DEL, the C1 controls and the line separators: JSON.stringify writes them raw, and U+009B (CSI) starts a terminal escape. */
const RAW_CONTROLS = /[\u007f-\u009f\u2028\u2029]/;

/**
 * A line with those characters as \u escapes (the same JSON), so text from a message header (a hostile task
 * name) can neither drive the terminal that tails the log nor split a line; cheap when there are none.
 */
function escapeControls(line: string): string {
  if (!RAW_CONTROLS.test(line)) return line;
  return line.replace(new RegExp(RAW_CONTROLS.source, 'g'), (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `{"time","level","logger","message",...fields}` on one line. */
export function formatJson(r: LogRecord, secrets: readonly string[]): string {
  const line: Record<string, unknown> = { time: r.time.toISOString(), level: r.level, logger: r.name, message: redactText(r.message, secrets) };
  if (r.fields) {
    for (const k in r.fields) {
      const key = RESERVED.has(k) ? `_${k}` : k;
      line[key] = SECRET_KEY.test(k) ? MASK : cleanValue(r.fields[k], secrets);
    }
  }
  return escapeControls(JSON.stringify(line)) + '\n';
}

/** `[name] LEVEL message key=value ...`: strings quoted, objects as JSON. */
export function formatText(r: LogRecord, secrets: readonly string[]): string {
  let rest = '';
  if (r.fields) {
    for (const k in r.fields) {
      const v = SECRET_KEY.test(k) ? MASK : cleanValue(r.fields[k], secrets);
      rest += ` ${k}=${typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`;
    }
  }
  return escapeControls(`[${r.name}] ${r.level.toUpperCase()} ${redactText(r.message, secrets)}${rest}`) + '\n';
}
