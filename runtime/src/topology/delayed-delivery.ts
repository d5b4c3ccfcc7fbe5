import { onChannel, type OpenChannel } from './declarer.js';
import { declareIfMissing } from './probe.js';

// Celery 5.5+'s native delayed delivery (kombu/transport/native_delayed_delivery.py), declared and used
// exactly as kombu does, so Python and TypeScript publishers and workers share one set of delay queues.

const BITS = 28;
/** The exchange a delayed task is published to: the highest level. */
export const DELAYED_ENTRY_EXCHANGE = 'celery_delayed_27';
/** Where a task lands when its delay is over; bound to each destination exchange with `#.<routing key>`. */
export const DELAYED_DELIVERY_EXCHANGE = 'celery_delayed_delivery';
/** The longest delay the 28 levels can express, in seconds (about 8.5 years). */
export const MAX_NATIVE_DELAY_S = 2 ** BITS - 1;

const level = (n: number): string => `celery_delayed_${n}`;

/**
 * The routing key of a task delayed by `seconds` (whole, 1 .. MAX_NATIVE_DELAY_S): the delay as 28 binary
 * digits joined by dots, then the destination routing key. Each level holds the task 2^N seconds when
 * its bit is 1 and passes it straight on when it is 0.
 */
export function delayedRoutingKey(seconds: number, routingKey: string): string {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_NATIVE_DELAY_S) throw new RangeError(`delay of ${seconds} s is outside 1..${MAX_NATIVE_DELAY_S}`);
  return [...seconds.toString(2).padStart(BITS, '0'), routingKey].join('.');
}

/**
 * Declares the levels (exchanges `celery_delayed_27..0`, quorum queues holding 2^N s each, bindings) and
 * the delivery exchange, as a Celery 5.5+ worker does at start-up. Levels that exist are used as they are
 * (a fleet may have chosen classic delay queues); bindings are idempotent.
 */
export async function ensureDelayedDelivery(open: OpenChannel): Promise<void> {
  for (let n = BITS - 1; n >= 0; n--) {
    await declareIfMissing(open, 'exchange', level(n), async (ch) => void (await ch.assertExchange(level(n), 'topic', { durable: true })));
    await declareIfMissing(open, 'queue', level(n), async (ch) => {
      await ch.assertQueue(level(n), {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-overflow': 'reject-publish',
          'x-message-ttl': 2 ** n * 1000,
          'x-dead-letter-exchange': n > 0 ? level(n - 1) : DELAYED_DELIVERY_EXCHANGE,
          'x-dead-letter-strategy': 'at-least-once',
        },
      });
    });
  }
  await declareIfMissing(open, 'exchange', DELAYED_DELIVERY_EXCHANGE, async (ch) => void (await ch.assertExchange(DELAYED_DELIVERY_EXCHANGE, 'topic', { durable: true })));
  await onChannel(open, async (ch) => {
    // Level N's bit is the (28 - N)th word of the key: 1 holds the task in level N's queue, 0 passes it on.
    for (let n = BITS - 1; n >= 0; n--) {
      const skip = '*.'.repeat(BITS - 1 - n);
      await ch.bindQueue(level(n), level(n), `${skip}1.#`);
      await ch.bindExchange(n > 0 ? level(n - 1) : DELAYED_DELIVERY_EXCHANGE, level(n), `${skip}0.#`);
    }
  });
}

/**
 * Lets delayed tasks reach `queue` when their time comes: its (topic) exchange is bound to the delivery
 * exchange and the queue to its exchange, both with `#.<queue>`, as Celery's worker binds its queues.
 */
export async function bindForDelayedDelivery(open: OpenChannel, queue: string): Promise<void> {
  const key = `#.${queue}`;
  await onChannel(open, async (ch) => {
    await ch.bindExchange(queue, DELAYED_DELIVERY_EXCHANGE, key);
    await ch.bindQueue(queue, queue, key);
  });
}
