import type { ConsumeMessage, MessageProperties } from 'amqplib';
import { amqpInt } from './celery/encode.js';

/** Where tasks that can never run, or ran out of attempts, end up, with the reason attached. */
export const dlqName = (queue: string): string => `${queue}.dlq`;

/** A queue that holds messages for `delayMs`, then dead-letters them back onto `queue`. */
export const delayQueueName = (queue: string, delayMs: number): string => `${queue}.retry.${delayMs}`;

/** Headers a dead-lettered message carries besides its own. */
export const DLQ_HEADERS = {
  reason: 'x-taskbus-reason',
  /** Headers a copy could not carry (see salvagedHeaders). */
  dropped: 'x-taskbus-dropped-headers',
  error: 'x-taskbus-error',
  queue: 'x-taskbus-queue',
  failedAt: 'x-taskbus-failed-at',
} as const;

/**
 * Header values re-typed for the wire: amqplib decoded integers to plain numbers, and would send
 * 128..32767 back as short ints, which py-amqp cannot read. Nested tables too: Celery 5.3+ sends
 * `stamps` as a table whose values may be integers or lists of them.
 */
export function typedHeaders(headers: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const retype = (v: unknown): unknown => {
    if (Number.isInteger(v)) return amqpInt(v as number);
    if (Array.isArray(v)) return v.map(retype);
    // A value amqplib already typed ({'!': type, value}) is left as it is; Buffers are byte arrays, not tables.
    if (typeof v === 'object' && v !== null && !('!' in v) && !Buffer.isBuffer(v) && !(v instanceof Date)) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, retype(x)]));
    }
    return v;
  };
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, retype(v)]));
}

/**
 * Headers RabbitMQ itself writes (dead-lettering history, a quorum queue's delivery count): a copy is a new
 * message, and a stale count would send it to the dead-letter queue early.
 */
const BROKER_HEADERS = /^x-(death$|first-death-|last-death-|delivery-count$)/;

/**
 * Properties to re-publish a delivery with (retry, park, dead-letter, replay): its own, persistent,
 * headers re-typed, without the broker's own dead-lettering history.
 */
export function republishProperties(p: MessageProperties, headers: Readonly<Record<string, unknown>>) {
  const own = Object.fromEntries(Object.entries(headers).filter(([k]) => !BROKER_HEADERS.test(k)));
  return {
    contentType: p.contentType as string | undefined,
    contentEncoding: p.contentEncoding as string | undefined,
    correlationId: p.correlationId as string | undefined,
    replyTo: p.replyTo as string | undefined,
    priority: p.priority as number | undefined,
    persistent: true,
    headers: typedHeaders(own),
  };
}

/** The dead-letter copy of a delivery: original body and headers, plus why and when. */
export function deadLetterProperties(msg: ConsumeMessage, queue: string, reason: string, error: string, now: Date = new Date()) {
  return republishProperties(msg.properties, {
    ...(msg.properties.headers ?? {}),
    [DLQ_HEADERS.reason]: reason,
    [DLQ_HEADERS.error]: error.slice(0, 4000),
    [DLQ_HEADERS.queue]: queue,
    [DLQ_HEADERS.failedAt]: now.toISOString(),
  });
}

/** Header keys AMQP can carry (a short string), and what a salvaged copy keeps of the rest. */
const MAX_KEY_BYTES = 255;
const MAX_SALVAGED_ENTRY_BYTES = 4096;
const MAX_SALVAGED_BYTES = 32 * 1024;

/**
 * Headers a copy can carry when the delivery's own cannot be encoded again (a key of invalid UTF-8 that amqplib
 * reads back three times longer, a table over the 64 KiB amqplib writes): the entries that fit, in their order,
 * taskbus's own first, and the names of the others in `x-taskbus-dropped-headers`, so the copy is stored and
 * the handler is not run again and again for a message nothing can move.
 */
export function salvagedHeaders(headers: Readonly<Record<string, unknown>>): { headers: Record<string, unknown>; dropped: string[] } {
  const kept: Record<string, unknown> = {};
  const dropped: string[] = [];
  let total = 0;
  const ours = Object.entries(headers).sort(([a], [b]) => Number(b.startsWith('x-taskbus-')) - Number(a.startsWith('x-taskbus-')));
  for (const [key, value] of ours) {
    const size = Buffer.byteLength(key) + entrySize(value);
    if (Buffer.byteLength(key) > MAX_KEY_BYTES || key.includes('\uFFFD') || size > MAX_SALVAGED_ENTRY_BYTES || total + size > MAX_SALVAGED_BYTES) {
      dropped.push(key);
      continue;
    }
    kept[key] = value;
    total += size;
  }
  kept[DLQ_HEADERS.dropped] = dropped.map((k) => k.slice(0, 64)).join(',').slice(0, 1000);
  return { headers: kept, dropped };
}

/** About what an entry takes on the wire; anything that cannot be sized counts as too big. */
function entrySize(value: unknown): number {
  if (Buffer.isBuffer(value)) return value.length;
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '');
  } catch {
    return Infinity;
  }
}
