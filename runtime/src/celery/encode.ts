import { constantEntries, type FieldValue } from '../amqp/frame-writer.js';
import type { PublishHeaders } from '../amqp/publish-frames.js';
import { EMPTY_EMBED, type CallOptions } from './message.js';

/** What the publisher needs to put a task on the wire. */
export interface EncodedTask {
  readonly content: Buffer;
  /** When the task is due (its `eta` header), from `eta` or `countdown`; null to run at once. */
  readonly eta: Date | null;
  readonly properties: {
    readonly contentType: 'application/json';
    readonly contentEncoding: 'utf-8';
    readonly correlationId: string;
    readonly replyTo: string;
    readonly persistent: true;
    readonly priority?: number;
    readonly expiration?: string;
    /** The Celery headers as one object, assembled when read (the publisher uses wireHeaders); not copied by a spread. */
    readonly headers: Readonly<Record<string, FieldValue>>;
  };
  /**
   * The same headers split for the frame encoder: entries the same for every call of this task, and the rest.
   * `varying` is writable so the client can add the trace context (tracing.ts) without a copy.
   */
  readonly wireHeaders: PublishHeaders & { readonly varying: Record<string, FieldValue | undefined> };
}

export interface TaskToEncode {
  readonly id: string;
  readonly task: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  /** Reply queue of the calling process; Celery sets one even when no result is wanted. */
  readonly replyTo: string;
  /** `gen<pid>@<host>`, as Celery's `origin`. */
  readonly origin: string;
  readonly options: CallOptions;
  readonly parentId?: string | null;
  readonly rootId?: string | null;
}

/**
 * Encodes a Celery protocol v2 task message, as `apply_async(..., serializer='json')` would.
 * `now` is injected so that countdown/expires are testable.
 */
export function encodeTask(t: TaskToEncode, now?: Date): EncodedTask {
  const o = t.options;
  // The clock is read only when a relative time needs it.
  const at = () => (now ??= new Date()).getTime();
  const eta = o.eta ?? (o.countdown !== undefined ? new Date(at() + o.countdown * 1000) : null);
  const expires = o.expires === undefined ? null : typeof o.expires === 'number' ? new Date(at() + o.expires * 1000) : o.expires;
  // Serialised once: the body is assembled from the same text the reprs show.
  const argsrepr = JSON.stringify(t.args);
  const kwargsrepr = JSON.stringify(t.kwargs);
  const constant = constantHeaders(t.task, t.origin);
  const varying: Record<string, FieldValue> = {
    id: t.id,
    eta: eta && celeryTime(eta),
    expires: expires && celeryTime(expires),
    retries: amqpInt(o.retries ?? 0),
    timelimit: [amqpSeconds(o.timeLimit), amqpSeconds(o.softTimeLimit)],
    root_id: t.rootId ?? t.id,
    parent_id: t.parentId ?? null,
    argsrepr: truncate(argsrepr),
    kwargsrepr: truncate(kwargsrepr),
    ignore_result: o.ignoreResult ?? false,
  };
  const properties = new TaskProperties(t.id, t.replyTo, constant.entries, varying);
  if (o.priority !== undefined) properties.priority = o.priority;
  if (expires) properties.expiration = String(Math.max(0, Math.ceil(expires.getTime() - at())));
  return {
    content: Buffer.from(`[${argsrepr},${kwargsrepr},${EMBED_JSON}]`, 'utf8'),
    eta,
    properties,
    wireHeaders: { constant: constant.bytes, varying },
  };
}

/**
 * A task's message properties. A class, so that a call builds no accessor of its own (an object literal's getter
 * costs more than the rest of encodeTask): `headers` lives on the prototype, so a spread of these properties
 * leaves it out, and the parts it is built from are private.
 */
class TaskProperties {
  readonly contentType = 'application/json';
  readonly contentEncoding = 'utf-8';
  readonly persistent = true;
  // Declared only: set when a call has them, absent (not undefined) otherwise, as Celery leaves them out.
  declare priority?: number;
  declare expiration?: string;
  readonly #constant: Readonly<Record<string, FieldValue>>;
  readonly #varying: Readonly<Record<string, FieldValue>>;

  constructor(
    readonly correlationId: string,
    readonly replyTo: string,
    constant: Readonly<Record<string, FieldValue>>,
    varying: Readonly<Record<string, FieldValue>>,
  ) {
    this.#constant = constant;
    this.#varying = varying;
  }

  /** The Celery headers as one object, assembled when read (amqplib's own publish, tests). */
  get headers(): Readonly<Record<string, FieldValue>> {
    return { ...this.#constant, ...this.#varying };
  }
}

interface ConstantHeaders {
  readonly entries: Readonly<Record<string, FieldValue>>;
  readonly bytes: Buffer;
}

/** Per task name and origin; bounded, as callers of untyped tasks may use any number of names. */
const constants = new Map<string, ConstantHeaders>();
const MAX_CONSTANTS = 1000;

/** The headers that are the same on every call of a task from one process, encoded once. */
function constantHeaders(task: string, origin: string): ConstantHeaders {
  const key = `${task}\n${origin}`;
  let c = constants.get(key);
  if (!c) {
    const entries = { lang: 'py', task, shadow: null, group: null, group_index: null, origin };
    c = { entries, bytes: constantEntries(entries) };
    if (constants.size >= MAX_CONSTANTS) constants.clear();
    constants.set(key, c);
  }
  return c;
}

/**
 * amqplib types a JS integer by size, and sends 128..32767 as a short int (`s`), which py-amqp 5.1 reads
 * as a short string and then chokes on. Always send integers as 64-bit `l`.
 */
export function amqpInt(n: number): { '!': 'long'; value: number } {
  return { '!': 'long', value: Math.trunc(n) };
}

/** A time limit in seconds: whole ones as a 64-bit int, a fraction (0.5) as a double, as Python sends a float. */
function amqpSeconds(n: number | undefined): { '!': 'long' | 'double'; value: number } | null {
  if (n === undefined) return null;
  return Number.isInteger(n) ? amqpInt(n) : { '!': 'double', value: n };
}

/** ISO 8601 with an explicit offset and microseconds: Celery 5.2 reads the fraction as microseconds. */
export function celeryTime(d: Date): string {
  return d.toISOString().replace('Z', '000+00:00');
}

// Display-only (Flower, logs); Celery allows 1024, but every byte here is paid again on each message.
const REPR_LIMIT = 256;
const EMBED_JSON = JSON.stringify(EMPTY_EMBED);

function truncate(s: string): string {
  return s.length <= REPR_LIMIT ? s : s.slice(0, REPR_LIMIT - 3) + '...';
}
