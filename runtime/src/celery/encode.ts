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
    /** The Celery headers as one object (assembled when read: the publisher uses wireHeaders). */
    readonly headers: Readonly<Record<string, FieldValue>>;
  };
  /** The same headers split for the frame encoder: entries the same for every call of this task, and the rest. */
  readonly wireHeaders: PublishHeaders;
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
export function encodeTask(t: TaskToEncode, now: Date = new Date()): EncodedTask {
  const o = t.options;
  const eta = o.eta ?? (o.countdown !== undefined ? new Date(now.getTime() + o.countdown * 1000) : null);
  const expires = o.expires === undefined ? null : typeof o.expires === 'number' ? new Date(now.getTime() + o.expires * 1000) : o.expires;
  // Serialised once: the body is assembled from the same text the reprs show.
  const argsrepr = JSON.stringify(t.args);
  const kwargsrepr = JSON.stringify(t.kwargs);
  const constant = constantHeaders(t.task, t.origin);
  const varying: Record<string, FieldValue> = {
    id: t.id,
    eta: eta && celeryTime(eta),
    expires: expires && celeryTime(expires),
    retries: amqpInt(o.retries ?? 0),
    timelimit: [amqpIntOrNull(o.timeLimit), amqpIntOrNull(o.softTimeLimit)],
    root_id: t.rootId ?? t.id,
    parent_id: t.parentId ?? null,
    argsrepr: truncate(argsrepr),
    kwargsrepr: truncate(kwargsrepr),
    ignore_result: o.ignoreResult ?? false,
  };
  const body = `[${argsrepr},${kwargsrepr},${EMBED_JSON}]`;
  return {
    content: Buffer.from(body, 'utf8'),
    eta,
    properties: {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: t.id,
      replyTo: t.replyTo,
      persistent: true,
      get headers() {
        return { ...constant.entries, ...varying };
      },
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
      ...(expires ? { expiration: String(Math.max(0, Math.ceil(expires.getTime() - now.getTime()))) } : {}),
    },
    wireHeaders: { constant: constant.bytes, varying },
  };
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

function amqpIntOrNull(n: number | undefined): { '!': 'long'; value: number } | null {
  return n === undefined ? null : amqpInt(n);
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
