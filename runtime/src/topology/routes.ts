import { SHORTSTR_MAX } from '../amqp/frame-writer.js';
import { describeCause } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Declarer } from './declarer.js';
import { bindForDelayedDelivery, DELAYED_ENTRY_EXCHANGE, delayedRoutingKey, ensureDelayedDelivery, MAX_NATIVE_DELAY_S } from './delayed-delivery.js';
import type { QueueType } from './queue-type.js';
import { ensureTaskQueue, type TaskQueue } from './task-queue.js';

/** Where one message is published. */
export interface Route {
  readonly exchange: string;
  readonly routingKey: string;
}

/**
 * Makes Celery's native delayed delivery usable for a queue: the 28 levels (once per connection) and the
 * queue's bindings to the delivery exchange (once per queue), as a Celery 5.5+ worker declares them.
 */
export async function ensureNativeDelay(declarer: Declarer, queue: string): Promise<void> {
  await declarer.once('celery-delayed-delivery', ensureDelayedDelivery);
  await declarer.once(`delayed:${queue}`, (open) => bindForDelayedDelivery(open, queue));
}

/**
 * Where a client publishes each queue's tasks on one connection. Plain tasks go through the default
 * exchange, as Celery sends them. A countdown or ETA for a quorum queue behind a topic exchange goes
 * through Celery's native delayed delivery, so it waits in the broker rather than in a worker's memory;
 * where that cannot be set up, it is sent directly with its `eta` header and the worker waits instead.
 */
export class PublishRoutes {
  private readonly queues = new Map<string, TaskQueue>();
  /** Per queue: native delayed delivery is set up (true) or refused on this connection (false). */
  private readonly delayed = new Map<string, boolean>();
  /** Per queue, the arguments it was found with: a deleted queue is declared again with them. */
  private readonly declaredAs = new Map<string, Record<string, unknown>>();

  constructor(
    private readonly declarer: Declarer,
    private readonly log: Logger,
  ) {}

  /** The route, without waiting; undefined until prepare() has learnt what it needs. */
  route(queue: string, dueAt: number | null, now = Date.now()): Route | undefined {
    const q = this.queues.get(queue);
    if (!q) return undefined;
    const direct = { exchange: '', routingKey: queue };
    // Whole seconds, rounded down as Celery does: a task never arrives early, and the worker re-checks its eta.
    const seconds = dueAt === null ? 0 : Math.floor((dueAt - now) / 1000);
    if (!q.nativeDelay || seconds < 1 || seconds > MAX_NATIVE_DELAY_S) return direct;
    const usable = this.delayed.get(queue);
    if (usable === undefined) return undefined;
    const routingKey = delayedRoutingKey(seconds, queue);
    // The delay bits take 56 bytes: past SHORTSTR_MAX in all the key cannot be sent, the worker waits for the eta instead.
    return usable && Buffer.byteLength(routingKey) <= SHORTSTR_MAX ? { exchange: DELAYED_ENTRY_EXCHANGE, routingKey } : direct;
  }

  /** Learns the queue (declaring what is missing) and, for a delayed task, sets up native delayed delivery. */
  async prepare(queue: string, type: QueueType, delayed: boolean): Promise<void> {
    let q = this.queues.get(queue);
    if (!q) {
      q = await this.declarer.once(`queue:${queue}`, (open) => ensureTaskQueue(open, queue, type, this.declaredAs.get(queue)));
      this.queues.set(queue, q);
      if (q.arguments) this.declaredAs.set(queue, q.arguments); // declared again as it was if it is deleted
    }
    if (!delayed || !q.nativeDelay || this.delayed.has(queue)) return;
    try {
      await ensureNativeDelay(this.declarer, queue);
      this.delayed.set(queue, true);
    } catch (e) {
      this.log.warn('cannot set up native delayed delivery; delayed tasks go to the queue with their eta instead', { queue, error: describeCause(e) });
      this.delayed.set(queue, false);
    }
  }

  /** A channel died (a publish to a delay level that was deleted closes it): set native delays up again on next use. */
  forgetDelays(): void {
    for (const queue of this.delayed.keys()) this.declarer.forget(`delayed:${queue}`);
    this.delayed.clear();
    this.declarer.forget('celery-delayed-delivery');
  }

  /** The queue (or the delay levels) may have been deleted: learn and declare again on next use. */
  forget(queue: string): void {
    this.queues.delete(queue);
    this.declarer.forget(`queue:${queue}`);
    this.forgetDelays();
  }
}
