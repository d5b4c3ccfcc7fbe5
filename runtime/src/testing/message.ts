import type { Options } from 'amqplib';
import type { QueuedTask } from './types.js';

/** A message as the in-memory broker holds it: headers plain, as amqplib would hand them to a consumer. */
export interface Stored {
  readonly content: Buffer;
  readonly properties: Readonly<Record<string, unknown>> & { readonly headers: Readonly<Record<string, unknown>>; readonly expiration?: string | undefined };
  readonly redelivered: boolean;
  readonly enqueuedAt: number;
}

/** Headers as a consumer reads them off the wire: amqplib's typed values ({'!': 'long', value}) plain, undefined left out. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Date)) {
    if ('!' in v && 'value' in v) return plain((v as { value: unknown }).value);
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

/** A published message as the broker stores it, enqueued at `enqueuedAt` on the bus's clock. */
export function stored(content: Buffer, properties: Options.Publish, enqueuedAt: number): Stored {
  const { headers, ...rest } = properties;
  const props = Object.fromEntries(Object.entries(rest).filter(([, x]) => x !== undefined));
  return { content, properties: { ...props, headers: plain(headers ?? {}) as Record<string, unknown> }, redelivered: false, enqueuedAt };
}

/** The per-message TTL in ms (Celery sets it from `expires`), or undefined when it has none. */
export function ttlMs(s: Stored): number | undefined {
  const ttl = s.properties.expiration === undefined ? NaN : Number(s.properties.expiration);
  return Number.isNaN(ttl) ? undefined : ttl;
}

/**
 * As RabbitMQ's per-message TTL: expired once it has waited its TTL in the queue. A TTL of 0 lets a message
 * through only at the moment it is enqueued, to a consumer that can take it at once.
 */
export function expired(s: Stored, now: number): boolean {
  const ttl = ttlMs(s);
  if (ttl === undefined) return false;
  return ttl === 0 ? now > s.enqueuedAt : now >= s.enqueuedAt + ttl;
}

/** What a test sees of a stored message: the task, its arguments (when the body is Celery JSON) and headers. */
export function describeTask(s: Stored): QueuedTask {
  const h = s.properties.headers;
  let body: unknown;
  try {
    body = JSON.parse(s.content.toString('utf8'));
  } catch {
    body = undefined;
  }
  const [args, kwargs] = Array.isArray(body) ? (body as unknown[]) : [];
  return {
    id: typeof h['id'] === 'string' ? h['id'] : '',
    task: typeof h['task'] === 'string' ? h['task'] : '',
    args: Array.isArray(args) ? args : undefined,
    kwargs: kwargs && typeof kwargs === 'object' && !Array.isArray(kwargs) ? (kwargs as Record<string, unknown>) : undefined,
    retries: typeof h['retries'] === 'number' ? h['retries'] : 0,
    headers: h,
  };
}
