import { dlqName } from '../deadletter.js';

/**
 * The kind of queue taskbus creates for a task queue it finds missing. `classic` is Celery's default;
 * `quorum` is RabbitMQ's replicated queue, what Celery 5.5+ declares with `task_default_queue_type='quorum'`.
 * A queue that already exists is used as it is, whatever its type.
 */
export type QueueType = 'classic' | 'quorum';

export const QUEUE_TYPES: readonly QueueType[] = ['classic', 'quorum'];

/** Deliveries of one message before a quorum queue dead-letters it (RabbitMQ 4's default too). */
export const DEFAULT_DELIVERY_LIMIT = 20;

/**
 * The arguments of a task queue taskbus creates. Classic queues stay argument-free, exactly as Celery
 * declares them. Quorum queues stop poison messages at the broker (`x-delivery-limit`) and dead-letter
 * them to `<queue>.dlq` at least once (which needs `x-overflow: reject-publish`). A Celery peer must
 * declare the same arguments (the generated Python bindings carry them), or its declaration is refused.
 */
export function taskQueueArguments(queue: string, type: QueueType, deliveryLimit = DEFAULT_DELIVERY_LIMIT): Record<string, unknown> {
  if (type === 'classic') return {};
  return {
    'x-queue-type': 'quorum',
    'x-delivery-limit': deliveryLimit,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': dlqName(queue),
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

/**
 * The exchange named like the queue: direct for classic (Celery's default), topic for quorum, as Celery 5.5+
 * fleets declare it (`task_create_missing_queue_exchange_type='topic'`) so native delayed delivery can reach it.
 */
export function taskExchangeType(type: QueueType): 'direct' | 'topic' {
  return type === 'classic' ? 'direct' : 'topic';
}
