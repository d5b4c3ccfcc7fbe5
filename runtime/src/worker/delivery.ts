import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../logger.js';

/** How a delivery ended: acked, handed back to the broker, or left unsettled with its channel (the broker requeues it). */
export type Settlement = 'acked' | 'requeued' | 'channel-lost';

/**
 * Where deliveries are settled: a consume channel's life (ConsumeGeneration), or the test harness's
 * in-memory queues. While not `open`, settling is not possible and the source has the delivery back.
 */
export interface DeliverySource {
  readonly open: boolean;
  readonly unsettled: Set<Delivery>;
  ack(msg: ConsumeMessage): void;
  /** Back to its queue at once. */
  requeue(msg: ConsumeMessage): void;
}

/** One consume channel's life: deliveries are settled on the channel they came from, or not at all. */
export class ConsumeGeneration implements DeliverySource {
  open = true;
  readonly unsettled = new Set<Delivery>();

  constructor(readonly channel: Channel) {}

  ack(msg: ConsumeMessage): void {
    this.channel.ack(msg);
  }

  requeue(msg: ConsumeMessage): void {
    this.channel.nack(msg, false, true);
  }

  /** The channel closed: the broker requeues everything still unsettled on it. */
  lost(): Delivery[] {
    this.open = false;
    const lost = [...this.unsettled];
    for (const d of lost) d.channelLost();
    return lost;
  }
}

/**
 * A delivery that is settled exactly once: acked, nacked with requeue, or given up with its channel.
 * Every path through the worker ends in one of them, and a second attempt is a logged no-op, never a
 * second ack (which RabbitMQ answers by closing the channel: 406 unknown delivery tag).
 */
export class Delivery {
  private state: Settlement | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly msg: ConsumeMessage,
    readonly queue: string,
    private readonly generation: DeliverySource,
    private readonly log: Logger,
  ) {
    generation.unsettled.add(this);
  }

  get settled(): Settlement | null {
    return this.state;
  }

  /** Task id for logs: from the headers when present, else the correlation id. */
  get id(): string {
    const id = this.msg.properties.headers?.['id'] ?? this.msg.properties.correlationId;
    return typeof id === 'string' ? id : '';
  }

  /** Task name for logs and metrics: the `task` header when it is a string (hostile input may send anything). */
  get task(): string {
    const task = this.msg.properties.headers?.['task'];
    return typeof task === 'string' ? task : '';
  }

  ack(): void {
    this.finish('acked', (source) => source.ack(this.msg));
  }

  /** Back to the queue at once (stop, a held ETA given back). */
  requeue(): void {
    this.finish('requeued', (source) => source.requeue(this.msg));
  }

  /**
   * Back to the queue after `delayMs`, holding it unacked meanwhile: a delivery that cannot be handled
   * now (its dead-letter copy was refused) comes back at a bounded rate, never in a hot loop.
   */
  requeueAfter(delayMs: number): void {
    if (this.state || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.requeue();
    }, delayMs);
  }

  /** A pending requeueAfter is done now (the worker is stopping). */
  hurry(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.requeue();
  }

  channelLost(): void {
    if (this.state) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.state = 'channel-lost';
    this.generation.unsettled.delete(this);
  }

  private finish(state: Settlement, settle: (source: DeliverySource) => void): void {
    if (this.state) {
      if (this.state !== 'channel-lost') this.log.warn('delivery already settled; second settlement ignored', { task: this.task, id: this.id, was: this.state, now: state });
      else this.log.warn('channel closed before the delivery was settled; the broker redelivers it', { task: this.task, id: this.id, queue: this.queue });
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.generation.unsettled.delete(this);
    if (!this.generation.open) {
      this.state = 'channel-lost';
      this.log.warn('channel closed before the delivery was settled; the broker redelivers it', { task: this.task, id: this.id, queue: this.queue });
      return;
    }
    this.state = state;
    try {
      settle(this.generation);
    } catch (e) {
      // amqplib throws IllegalOperationError on a channel that is closing: the broker requeues.
      this.state = 'channel-lost';
      this.log.warn('channel closing; the broker redelivers the delivery', { task: this.task, id: this.id, error: e instanceof Error ? e.message : String(e) });
    }
  }
}
