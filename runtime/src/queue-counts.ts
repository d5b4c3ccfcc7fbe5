import type { Channel } from 'amqplib';
import { closeConnection } from './amqp/close.js';
import type { ConnectOptions } from './connect-options.js';
import { openConnection } from './connection.js';
import { describeCause, TaskbusError } from './errors.js';
import { replyCode } from './topology/declarer.js';

/**
 * What a passive queue.declare tells of a queue: AMQP has no count of unacknowledged messages (only the
 * management plugin knows it). `missing`: no such queue (nothing was created); `refused`: the user may not
 * look at it (403), or it is exclusive to another connection (405).
 */
export type QueueCount =
  | { readonly state: 'ok'; readonly ready: number; readonly consumers: number }
  | { readonly state: 'missing' }
  | { readonly state: 'refused' };

/** Counting the queues failed for another reason than a missing or forbidden queue. */
export class QueueCountError extends TaskbusError {
  constructor(queue: string, cause: unknown) {
    super('E_QUEUE_COUNT', `cannot look at queue "${queue}": ${describeCause(cause)}`, { cause });
  }
}

/**
 * Ready messages and consumers of each named queue, by passive declares on one connection: a queue that does
 * not exist is reported missing and never created. A 404 closes its channel, so the next queue gets a new one.
 */
export async function countQueues(names: readonly string[], options: ConnectOptions = {}): Promise<Map<string, QueueCount>> {
  const connection = await openConnection({ connectionName: 'taskbus inspect queues', ...options });
  const counts = new Map<string, QueueCount>();
  let channel: Channel | null = null;
  try {
    for (const name of names) {
      if (counts.has(name)) continue;
      if (!channel) {
        channel = await connection.createChannel();
        channel.on('error', () => undefined); // a refusal closes the channel; the declare's promise carries it
      }
      try {
        const q = await channel.checkQueue(name);
        counts.set(name, { state: 'ok', ready: q.messageCount, consumers: q.consumerCount });
      } catch (e) {
        channel = null;
        const code = replyCode(e);
        if (code === 404) counts.set(name, { state: 'missing' });
        else if (code === 403 || code === 405) counts.set(name, { state: 'refused' });
        else throw new QueueCountError(name, e);
      }
    }
  } finally {
    await closeConnection(connection);
  }
  return counts;
}
