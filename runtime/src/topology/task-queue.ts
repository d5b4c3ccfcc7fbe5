import { TopologyError } from '../errors.js';
import type { OpenChannel } from './declarer.js';
import { onChannel, replyCode } from './declarer.js';
import { declareIfMissing, exchangeTypeOf, recogniseQueue } from './probe.js';
import { taskExchangeType, taskQueueArguments, type QueueType } from './queue-type.js';

/** A task queue as found (or created) on the broker. */
export interface TaskQueue {
  readonly name: string;
  /** Its type; null when it has arguments taskbus does not recognise (it is used all the same). */
  readonly type: QueueType | 'stream' | null;
  /** The type of the exchange named like it (direct, topic, ...); null when unknown. */
  readonly exchangeType: string | null;
  /**
   * Countdowns and ETAs can go through Celery's native delayed delivery: a quorum queue behind a topic
   * exchange, as Celery 5.5+ requires (a direct exchange cannot match the delay routing keys).
   */
  readonly nativeDelay: boolean;
  /**
   * The arguments it was found equivalent to (or created with): what to declare it with if it has to be
   * created again, so that a Celery fleet's own declaration of it stays valid. Null when unknown.
   */
  readonly arguments: Record<string, unknown> | null;
}

/**
 * Makes sure a task queue can be used, the way a Celery peer may already have declared it: the exchange and
 * the queue are checked passively and declared only when missing (as `type` says), so a queue or exchange a
 * peer declared with other arguments or of another type is used as it is. The queue is bound to its
 * exchange with its name, as Celery binds it.
 */
export async function ensureTaskQueue(open: OpenChannel, queue: string, type: QueueType, createWith?: Record<string, unknown> | null): Promise<TaskQueue> {
  // Deleted between the check and the binding (404): what is missing now is declared on the next pass.
  for (let attempt = 1; ; attempt++) {
    try {
      return await ensureOnce(open, queue, type, createWith ?? taskQueueArguments(queue, type));
    } catch (e) {
      if (attempt >= 3 || replyCode((e as { cause?: unknown }).cause) !== 404) throw e;
    }
  }
}

async function ensureOnce(open: OpenChannel, queue: string, type: QueueType, args: Record<string, unknown>): Promise<TaskQueue> {
  try {
    const exchangeCreated = await declareIfMissing(open, 'exchange', queue, async (ch) => {
      await ch.assertExchange(queue, taskExchangeType(type), { durable: true, autoDelete: false });
    });
    const queueCreated = await declareIfMissing(open, 'queue', queue, async (ch) => {
      await ch.assertQueue(queue, { durable: true, exclusive: false, autoDelete: false, arguments: args });
    });
    await onChannel(open, async (ch) => void (await ch.bindQueue(queue, queue, queue))).catch((e: unknown) => {
      if (replyCode(e) !== 405) throw e; // exclusive to another connection: only its owner may bind it; publishing still works
    });
    const createdType: QueueType = args['x-queue-type'] === 'quorum' ? 'quorum' : 'classic';
    const found = queueCreated ? { type: createdType, arguments: args } : await recogniseQueue(open, queue, candidates(queue, type));
    const exchangeType = exchangeCreated ? taskExchangeType(type) : await exchangeTypeOf(open, queue);
    return { name: queue, type: found.type, exchangeType, nativeDelay: found.type === 'quorum' && exchangeType === 'topic', arguments: found.arguments };
  } catch (e) {
    throw new TopologyError(queue, e);
  }
}

/** Argument sets to recognise an existing queue by: taskbus's own of each type, then Celery 5.5's quorum. */
function candidates(queue: string, preferred: QueueType): (readonly [QueueType, Record<string, unknown>])[] {
  const other: QueueType = preferred === 'classic' ? 'quorum' : 'classic';
  return [
    [preferred, taskQueueArguments(queue, preferred)],
    [other, taskQueueArguments(queue, other)],
    ['quorum', { 'x-queue-type': 'quorum' }],
  ];
}
