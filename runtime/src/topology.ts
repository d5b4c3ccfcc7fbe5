import type { Channel } from 'amqplib';
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
