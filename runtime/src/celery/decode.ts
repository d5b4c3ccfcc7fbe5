import { ForbiddenKeyError, parseJson } from './json.js';
import type { TaskMessage } from './message.js';

/** Why a delivery cannot be run; stable strings, used in logs and dead-letter records. */
export type RejectReason =
  | 'unsupported-content-type'
  | 'undecodable'
  | 'forbidden-key'
  | 'missing-header'
  | 'malformed-header'
  | 'malformed-body'
  | 'unsupported-protocol';

export type DecodeResult =
  | { readonly ok: true; readonly message: TaskMessage }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string };

/** The parts of an AMQP delivery decoding looks at. */
export interface RawDelivery {
  readonly content: Buffer;
  readonly properties: {
    readonly contentType?: string | undefined;
    readonly contentEncoding?: string | undefined;
    readonly headers?: Readonly<Record<string, unknown>> | undefined;
    readonly replyTo?: string | undefined;
    readonly correlationId?: string | undefined;
    readonly priority?: number | undefined;
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function fail(reason: RejectReason, detail: string): DecodeResult {
  return { ok: false, reason, detail };
}

/**
 * Decodes a Celery protocol v2 delivery. Only JSON is ever parsed: pickle, yaml and msgpack are refused
 * unread, so nothing in a body can make this process execute code.
 */
export function decodeDelivery(d: RawDelivery): DecodeResult {
  const p = d.properties;
  const mime = (p.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mime !== 'application/json') {
    return fail('unsupported-content-type', `content type "${p.contentType ?? ''}" is not application/json; only JSON is accepted`);
  }
  const encoding = (p.contentEncoding ?? 'utf-8').toLowerCase();
  if (encoding !== 'utf-8' && encoding !== 'utf8') {
    return fail('undecodable', `content encoding "${encoding}" is not utf-8`);
  }
  let body: unknown;
  try {
    body = parseJson(utf8.decode(d.content));
  } catch (e) {
    if (e instanceof ForbiddenKeyError) return fail('forbidden-key', e.message);
    return fail('undecodable', `body is not valid UTF-8 JSON: ${(e as Error).message}`);
  }

  const h = p.headers ?? {};
  if (h['task'] === undefined && isRecord(body) && typeof body['task'] === 'string') {
    return fail('unsupported-protocol', 'Celery protocol v1 message (task in body); send protocol v2');
  }
  const task = h['task'];
  const id = h['id'];
  if (typeof task !== 'string' || task === '') return fail('missing-header', 'header "task" is missing or not a string');
  if (typeof id !== 'string' || id === '') return fail('missing-header', 'header "id" is missing or not a string');

  if (!Array.isArray(body) || body.length < 2 || body.length > 3) {
    return fail('malformed-body', 'body must be a JSON array [args, kwargs, embed]');
  }
  const [args, kwargs] = body as unknown[];
  if (!Array.isArray(args)) return fail('malformed-body', 'args (body[0]) must be an array');
  if (!isRecord(kwargs)) return fail('malformed-body', 'kwargs (body[1]) must be an object');

  const eta = optionalTime(h, 'eta');
  const expires = optionalTime(h, 'expires');
  const retries = h['retries'] ?? 0;
  if (eta === undefined || expires === undefined || typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0) {
    return fail('malformed-header', 'eta/expires must be ISO 8601 times or null, retries a non-negative integer');
  }
  return {
    ok: true,
    message: {
      id,
      task,
      args,
      kwargs,
      retries,
      eta,
      expires,
      timeLimit: timeLimit(h['timelimit']),
      rootId: stringOrNull(h['root_id']),
      parentId: stringOrNull(h['parent_id']),
      group: stringOrNull(h['group']),
      ignoreResult: h['ignore_result'] === true,
      origin: stringOrNull(h['origin']),
      stamps: ownEntries(h['stamps']),
      replyTo: p.replyTo || null,
      correlationId: p.correlationId || null,
      priority: typeof p.priority === 'number' ? p.priority : null,
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A header table's own keys only: amqplib assigns a `__proto__` key, which makes it a prototype, not an entry. */
function ownEntries(v: unknown): Readonly<Record<string, unknown>> {
  return isRecord(v) ? Object.fromEntries(Object.entries(v)) : {};
}

function stringOrNull(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** null when absent, undefined when present but unreadable. */
function optionalTime(h: Readonly<Record<string, unknown>>, key: string): Date | null | undefined {
  const v = h[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') return undefined;
  // Celery treats a time without offset as UTC; Date.parse would read it as local time.
  const t = Date.parse(/(Z|[+-]\d\d:?\d\d)$/i.test(v) ? v : v + 'Z');
  return Number.isNaN(t) ? undefined : new Date(t);
}

function timeLimit(v: unknown): readonly [number | null, number | null] {
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  return Array.isArray(v) ? [num(v[0]), num(v[1])] : [null, null];
}
