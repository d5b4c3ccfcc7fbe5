import { delayQueueName, dlqName } from '../deadletter.js';
import { onChannel, type OpenChannel } from './declarer.js';
import { declareIfMissing } from './probe.js';
import type { QueueType } from './queue-type.js';

/**
 * The dead-letter queue of a task queue: durable, of the task queue's type, never consumed by workers.
 * One that exists is used as it is.
 */
export async function declareDeadLetterQueue(open: OpenChannel, queue: string, type: QueueType): Promise<void> {
  const name = dlqName(queue);
  await declareIfMissing(open, 'queue', name, async (ch) => {
    await ch.assertQueue(name, { durable: true, ...(type === 'quorum' ? { arguments: { 'x-queue-type': 'quorum' } } : {}) });
  });
}

/**
 * A delay queue for retries and far-off ETAs: nobody consumes it; messages expire after `delayMs` and
 * RabbitMQ routes them back to the task queue through the default exchange. Always a quorum queue with
 * at-least-once dead-lettering (RabbitMQ 3.10+), whatever the task queue's type: a classic queue's
 * dead-lettering is at-most-once, and would drop the task if the task queue refused it (full, or
 * deleted) at that moment; this one keeps it and tries again until the task queue takes it.
 * Declared strictly, unlike task queues: one with other arguments would keep tasks forever or lose them,
 * so its refusal (406) is what must happen, and the worker parks the task until it is fixed.
 */
export async function declareDelayQueue(open: OpenChannel, queue: string, delayMs: number): Promise<string> {
  const name = delayQueueName(queue, delayMs);
  await onChannel(open, async (ch) => {
    await ch.assertQueue(name, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-message-ttl': delayMs,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': queue,
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      },
    });
  });
  return name;
}
