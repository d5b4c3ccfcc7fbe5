import type { Channel } from 'amqplib';
import { delayQueueName, dlqName } from './deadletter.js';
import { TopologyError } from './errors.js';

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
 * A delay queue for retries: nobody consumes it; messages expire after `delayMs` and RabbitMQ routes them
 * back to the task queue. The task queue itself stays argument-free, as Celery declares it.
 */
export async function declareDelayQueue(channel: Channel, queue: string, delayMs: number): Promise<string> {
  const name = delayQueueName(queue, delayMs);
  await channel.assertQueue(name, {
    durable: true,
    arguments: { 'x-message-ttl': delayMs, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue },
  });
  return name;
}
