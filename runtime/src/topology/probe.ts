import { onChannel, replyCode, type OpenChannel } from './declarer.js';
import type { QueueType } from './queue-type.js';

/** Whether a queue or exchange exists, asked passively: nothing is created. */
export function exists(open: OpenChannel, kind: 'queue' | 'exchange', name: string): Promise<boolean> {
  return onChannel(open, async (ch) => {
    try {
      await (kind === 'queue' ? ch.checkQueue(name) : ch.checkExchange(name));
      return true;
    } catch (e) {
      if (replyCode(e) === 404) return false;
      if (replyCode(e) === 405) return true; // exclusive to another connection: it exists, and may be published to
      throw e;
    }
  });
}

/**
 * Declares what `declare` declares unless it exists, so that something a peer declared with other
 * arguments (a Celery 5.5 fleet's quorum queue, its topic exchange) is used as it is instead of being
 * refused with 406. When two declare at once, the loser's 406 means it exists now: that is fine too.
 * Returns true when this call created it.
 */
export async function declareIfMissing(open: OpenChannel, kind: 'queue' | 'exchange', name: string, declare: OpenDeclare): Promise<boolean> {
  if (await exists(open, kind, name)) return false;
  try {
    await onChannel(open, declare);
    return true;
  } catch (e) {
    if (replyCode(e) === 406 && (await exists(open, kind, name))) return false;
    throw e;
  }
}

export type OpenDeclare = Parameters<typeof onChannel<void>>[1];

/** RabbitMQ names the first inequivalent argument and its current value in a 406's text. */
const CURRENT = /inequivalent arg '([^']+)'.*?current is (?:the value )?(?:'([^']*)'|none)/;

export function inequivalence(e: unknown): { arg: string; current: string | null } | null {
  if (replyCode(e) !== 406) return null;
  const m = CURRENT.exec(e instanceof Error ? e.message : String(e));
  return m ? { arg: m[1]!, current: m[2] ?? null } : null;
}

/**
 * The type of an existing exchange. AMQP has no passive way to read it: declaring it as topic either
 * succeeds (it is topic) or is refused with its current type named.
 */
export async function exchangeTypeOf(open: OpenChannel, name: string): Promise<string | null> {
  try {
    await onChannel(open, async (ch) => void (await ch.assertExchange(name, 'topic', { durable: true, autoDelete: false })));
    return 'topic';
  } catch (e) {
    const i = inequivalence(e);
    return i?.arg === 'type' ? i.current : null;
  }
}

/** What an existing queue was recognised as: its type, and the argument set it is equivalent to (null when none). */
export interface RecognisedQueue {
  readonly type: QueueType | 'stream' | null;
  readonly arguments: Record<string, unknown> | null;
}

/**
 * An existing queue recognised the same way, in one pass: each candidate argument set is declared until one
 * is equivalent (its type and arguments), while a refusal naming the queue's `x-queue-type` tells its type
 * even when no candidate matches. A stream, or a queue not ours to configure (403, 405), ends the search.
 * Only called on a queue known to exist.
 */
export async function recogniseQueue(open: OpenChannel, name: string, candidates: readonly (readonly [QueueType, Record<string, unknown>])[]): Promise<RecognisedQueue> {
  let type: QueueType | 'stream' | null = null;
  for (const [candidate, args] of candidates) {
    try {
      await onChannel(open, async (ch) => void (await ch.assertQueue(name, { durable: true, arguments: args })));
      return { type: candidate, arguments: args };
    } catch (e) {
      const i = inequivalence(e);
      if (!i) {
        if (replyCode(e) === 403 || replyCode(e) === 405) return { type, arguments: null }; // not ours to configure (permissions, or exclusive to another connection)
        throw e;
      }
      if (i.arg !== 'x-queue-type') continue;
      if (i.current === null || i.current === 'classic') type = 'classic';
      else if (i.current === 'quorum') type = 'quorum';
      else return { type: i.current === 'stream' ? 'stream' : null, arguments: null };
    }
  }
  return { type, arguments: null };
}
