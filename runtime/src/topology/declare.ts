import type { Channel } from 'amqplib';
import { delayQueueName, dlqName } from '../deadletter.js';
import { TopologyError } from '../errors.js';

/**
 * Declares a queue exactly as Celery/kombu does for `-Q <name>`: durable, argument-free queue, a durable
 * direct exchange of the same name, bound with the queue name as routing key. Any extra argument would
 * make a Python worker's own declaration fail with PRECONDITION_FAILED.
 */
export async function declareCeleryQueue(channel: Channel, queue: string): Promise<void> {
  try {
    await channel.assertExchange(queue, 'direct', { durable: true, autoDelete: false });
    await channel.assertQueue(queue, { durable: true, exclusive: false, autoDelete: false });
    await channel.bindQueue(queue, queue, queue);
  } catch (e) {
    throw new TopologyError(queue, e);
  }
}

/** The dead-letter queue of a task queue: durable, no arguments, never consumed by workers. */
export async function declareDeadLetterQueue(channel: Channel, queue: string): Promise<void> {
  await channel.assertQueue(dlqName(queue), { durable: true });
}

/**
 * A delay queue for retries and far-off ETAs: nobody consumes it; messages expire after `delayMs` and
 * RabbitMQ routes them back to the task queue, which itself stays argument-free, as Celery declares it.
 * A quorum queue with at-least-once dead-lettering (RabbitMQ 3.10+): a classic queue's dead-lettering is
 * at-most-once, and would drop the task if the task queue refused it (full, or deleted) at that moment;
 * this one keeps it and tries again until the task queue takes it.
 */
export async function declareDelayQueue(channel: Channel, queue: string, delayMs: number): Promise<string> {
  const name = delayQueueName(queue, delayMs);
  await channel.assertQueue(name, {
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
  return name;
}
