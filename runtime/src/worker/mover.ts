import { createHash } from 'node:crypto';
import type { Options } from 'amqplib';
import { delayQueueName, dlqName, republishProperties, salvagedHeaders } from '../deadletter.js';
import { describeCause } from '../errors.js';
import type { Logger } from '../logger.js';
import { declareDeadLetterQueue, declareDelayQueue } from '../topology/declare.js';
import type { WorkerChannels } from './channels.js';
import type { Delivery } from './delivery.js';
import { parkBucketMs } from './eta.js';
import type { CopyTarget } from './pipeline.js';

/** Redeliveries of one message that could not be moved: 1 s, 2 s, 4 s ... up to 30 s apart. */
const REQUEUE_BASE_MS = 1000;
const REQUEUE_MAX_MS = 30_000;
/** Messages whose requeue count is remembered; the oldest are forgotten first. */
const REMEMBERED = 10_000;

/**
 * Moves deliveries to the dead-letter and delay queues: the copy must be confirmed and routed before the
 * original is acked. A copy returned as unroutable (its queue was deleted) re-declares the queue and tries
 * once more. A copy that still cannot be stored parks the original in a delay queue, later each time, to
 * be looked at again; only if that fails too does it go back to its queue, after the same delay.
 */
export class Mover {
  private readonly requeues = new Map<string, number>();

  constructor(
    private readonly channels: () => WorkerChannels | null,
    private readonly log: Logger,
  ) {}

  async move(d: Delivery, target: CopyTarget, properties: Options.Publish): Promise<void> {
    const failed = await this.copy(d, target, properties);
    if (!failed) {
      this.requeues.delete(this.key(d));
      return d.ack();
    }
    const delayMs = this.nextDelay(d);
    const later: CopyTarget = { kind: 'delay', ms: parkBucketMs(delayMs) };
    // The original waits in a delay queue rather than in a prefetch slot: refused copies must not starve other tasks.
    if (target.kind === 'dlq' || target.ms !== later.ms) {
      // A dead letter is parked as one (its reason in x-taskbus-reason): when it comes back it goes to the DLQ
      // again, never through the handler (past maxAttempts, or a poison message whose delivery count the copy lost).
      const parked = target.kind === 'dlq' ? properties : republishProperties(d.msg.properties, d.msg.properties.headers ?? {});
      const again = await this.copy(d, later, parked);
      if (!again) {
        this.log.error('could not move the delivery; it comes back later from a delay queue', { queue: d.queue, task: d.task, id: d.id, inMs: later.ms, error: failed });
        return d.ack();
      }
    }
    this.log.error('could not move the delivery; it goes back to its queue', { queue: d.queue, task: d.task, id: d.id, inMs: delayMs, error: failed });
    d.requeueAfter(delayMs);
  }

  /** Publishes a copy to the target queue, confirmed and routed; null when stored, else why not. */
  private async copy(d: Delivery, target: CopyTarget, properties: Options.Publish): Promise<string | null> {
    const channels = this.channels();
    const name = target.kind === 'dlq' ? dlqName(d.queue) : delayQueueName(d.queue, target.ms);
    let why = 'no open channel';
    for (let attempt = 0; channels && attempt < 2; attempt++) {
      try {
        await channels.declare<unknown>(name, (open) =>
          target.kind === 'dlq' ? declareDeadLetterQueue(open, d.queue, channels.queueType(d.queue)) : declareDelayQueue(open, d.queue, target.ms),
        );
      } catch (e) {
        return `cannot declare ${name}: ${describeCause(e)}`;
      }
      let result = await channels.publishCopy(name, d.msg.content, properties);
      if (result === 'unencodable') {
        // Its own headers cannot be written again: the copy goes with those that can, or the handler would run
        // again at every redelivery of a message that nothing can move.
        const salvaged = salvagedHeaders(properties.headers ?? {});
        this.log.warn('delivery headers cannot be copied as they are; copied without some', { queue: name, id: d.id, dropped: salvaged.dropped.join(',').slice(0, 200) });
        result = await channels.publishCopy(name, d.msg.content, { ...properties, headers: salvaged.headers });
      }
      if (result === 'routed') return null;
      why =
        result === 'unroutable' ? `${name} does not exist (deleted?)` : result === 'unencodable' ? `the copy to ${name} cannot be encoded` : `the broker did not confirm the copy to ${name}`;
      if (result !== 'unroutable') break;
      this.log.warn('copy unroutable; declaring its queue again', { queue: name, task: d.task, id: d.id });
      channels.forget(name);
    }
    return why;
  }

  private nextDelay(d: Delivery): number {
    const key = this.key(d);
    const n = this.requeues.get(key) ?? 0;
    this.requeues.delete(key); // re-inserted last: the map's order is the forgetting order
    this.requeues.set(key, n + 1);
    if (this.requeues.size > REMEMBERED) this.requeues.delete(this.requeues.keys().next().value!);
    return Math.min(REQUEUE_MAX_MS, REQUEUE_BASE_MS * 2 ** n);
  }

  /** The task id, or for deliveries without one (hostile input) a digest of the body. */
  private key(d: Delivery): string {
    return d.id || createHash('sha1').update(d.msg.content).digest('hex');
  }
}
