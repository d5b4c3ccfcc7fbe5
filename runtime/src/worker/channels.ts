import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { ChannelKeeper } from '../channel-keeper.js';
import { describeCause } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BackoffOptions } from '../connect-options.js';
import { backoffDelay } from '../reconnect.js';
import { dlqName } from '../deadletter.js';
import { declareCeleryQueue, declareDeadLetterQueue } from '../topology/declare.js';
import { ConsumeGeneration, Delivery } from './delivery.js';

/** Marks each copy the worker publishes, so a broker return is matched to the copy it refers to. */
const COPY_HEADER = 'x-taskbus-copy';

/** What became of a copy: confirmed and routed to a queue, returned as unroutable, or not confirmed. */
export type CopyResult = 'routed' | 'unroutable' | 'refused';

export interface ChannelsOptions {
  readonly queues: readonly string[];
  readonly prefetch: number;
  readonly log: Logger;
  readonly backoff?: BackoffOptions;
  /** Each delivery, already tied to its channel. */
  readonly onDelivery: (d: Delivery) => void;
  /** The consume channel closed: its unsettled deliveries went back to the broker. */
  readonly onConsumeLost: (lost: readonly Delivery[]) => void;
}

/**
 * The channels of one worker connection, each recovered on its own: consuming (prefetch, one consumer per
 * queue, re-subscribed when the broker cancels it), publishing copies and replies (confirmed), and
 * declarations on throwaway channels, so a refused declaration closes nothing that carries work.
 */
export class WorkerChannels {
  private readonly consumeKeeper: ChannelKeeper<Channel>;
  private readonly publishKeeper: ChannelKeeper<ConfirmChannel>;
  private readonly returned = new WeakMap<Channel, Set<string>>();
  private readonly declared = new Map<string, Promise<unknown>>();
  private generation: ConsumeGeneration | null = null;
  private readonly consumers = new Map<string, string>();
  private readonly cancels = new Map<string, number>();
  private consuming = true;

  constructor(
    private readonly connection: ChannelModel,
    private readonly o: ChannelsOptions,
  ) {
    this.consumeKeeper = new ChannelKeeper(connection, {
      name: 'worker consume channel',
      log: o.log,
      ...(o.backoff ? { backoff: o.backoff } : {}),
      create: (c) => c.createChannel(),
      setup: (ch) => this.subscribeAll(ch),
      onClosed: () => {
        const g = this.generation;
        this.generation = null;
        this.consumers.clear();
        if (g?.open) o.onConsumeLost(g.lost());
      },
    });
    this.publishKeeper = new ChannelKeeper(connection, {
      name: 'worker publish channel',
      log: o.log,
      ...(o.backoff ? { backoff: o.backoff } : {}),
      create: async (c) => {
        const ch = await c.createConfirmChannel();
        const returned = new Set<string>();
        ch.on('return', (msg: ConsumeMessage) => {
          const id = msg.properties.headers?.[COPY_HEADER];
          if (typeof id === 'string') returned.add(id);
        });
        this.returned.set(ch, returned);
        return ch;
      },
      setup: async () => undefined,
    });
  }

  /** Opens the channels and starts consuming (unless the worker is already stopping). */
  async open(consume: boolean): Promise<void> {
    this.consuming = consume;
    await this.publishKeeper.open();
    await this.consumeKeeper.open();
  }

  /**
   * Runs a declaration once per connection on a channel of its own; a refusal is not remembered, so the
   * next use tries again. `forget` makes the next use declare again (the queue was deleted meanwhile).
   */
  declare<T>(key: string, declare: (channel: Channel) => Promise<T>): Promise<T> {
    let done = this.declared.get(key) as Promise<T> | undefined;
    if (!done) {
      done = this.onThrowawayChannel(declare);
      this.declared.set(key, done);
      done.catch(() => {
        if (this.declared.get(key) === done) this.declared.delete(key);
      });
    }
    return done;
  }

  forget(key: string): void {
    this.declared.delete(key);
  }

  private async onThrowawayChannel<T>(use: (channel: Channel) => Promise<T>): Promise<T> {
    const channel = await this.connection.createChannel();
    channel.on('error', () => undefined); // the rejected operation reports why
    try {
      return await use(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  private async subscribeAll(channel: Channel): Promise<void> {
    await channel.prefetch(this.o.prefetch);
    const generation = new ConsumeGeneration(channel);
    this.generation = generation;
    if (!this.consuming) return;
    for (const queue of this.o.queues) await this.subscribe(generation, queue);
  }

  private async subscribe(g: ConsumeGeneration, queue: string): Promise<void> {
    await this.declare(`queue:${queue}`, (ch) => declareCeleryQueue(ch, queue));
    // Declared up front so operators (and `taskbus dlq`) find it; moving a dead letter declares it again if needed.
    await this.declare(dlqName(queue), (ch) => declareDeadLetterQueue(ch, queue)).catch((e: unknown) => {
      this.o.log.error('cannot declare the dead-letter queue; dead letters stay in their queue until it can be', { queue: dlqName(queue), error: describeCause(e) });
    });
    if (!g.open || !this.consuming) return;
    try {
      const { consumerTag } = await g.channel.consume(queue, (msg) => {
        if (msg) this.o.onDelivery(new Delivery(msg, queue, g, this.o.log));
        else this.cancelled(g, queue);
      });
      this.consumers.set(queue, consumerTag);
    } catch (e) {
      // Deleted between the declaration and the consume (404): the next try must declare it again.
      this.forget(`queue:${queue}`);
      throw e;
    }
  }

  /**
   * The broker cancelled a consumer (its queue was deleted, or became unavailable): declare the queue
   * again as Celery would and consume it on the same channel, so deliveries in flight can still be acked.
   */
  private cancelled(g: ConsumeGeneration, queue: string): void {
    this.consumers.delete(queue);
    const attempt = this.cancels.get(queue) ?? 0;
    this.cancels.set(queue, attempt + 1);
    const delay = backoffDelay(attempt, this.o.backoff);
    this.o.log.warn('consumer cancelled by the broker (queue deleted?); re-subscribing', { queue, inMs: delay });
    this.forget(`queue:${queue}`);
    setTimeout(() => {
      if (!g.open || !this.consuming || this.generation !== g) return;
      this.subscribe(g, queue).then(
        () => {
          this.o.log.info('consumer re-subscribed', { queue });
          setTimeout(() => this.cancels.get(queue) === attempt + 1 && this.cancels.delete(queue), 10_000).unref();
        },
        (e: unknown) => {
          this.o.log.error('could not re-subscribe; retrying', { queue, error: describeCause(e) });
          if (g.open && this.generation === g) this.cancelled(g, queue);
        },
      );
    }, delay);
  }

  /** Publishes a copy (retry, park, dead letter), mandatory and confirmed, and says whether it was routed. */
  async publishCopy(queue: string, content: Buffer, properties: Options.Publish): Promise<CopyResult> {
    const channel = this.publishKeeper.current;
    if (!channel) return 'refused';
    const copyId = randomUUID();
    const headers = { ...properties.headers, [COPY_HEADER]: copyId };
    const err = await new Promise<unknown>((resolve) => {
      try {
        channel.publish('', queue, content, { ...properties, headers, mandatory: true }, resolve);
      } catch (e) {
        resolve(e); // the channel closed between the check and the write
      }
    });
    // A return comes before the confirm of the same message.
    if (this.returned.get(channel)?.delete(copyId)) return 'unroutable';
    if (err) {
      this.o.log.warn('copy not confirmed by the broker', { queue, error: describeCause(err) });
      return 'refused';
    }
    return 'routed';
  }

  /** Celery rpc replies are transient and not confirmed, as Celery's own; false when no channel is open. */
  reply(queue: string, content: Buffer, properties: Options.Publish): boolean {
    const channel = this.publishKeeper.current;
    if (!channel) return false;
    try {
      channel.publish('', queue, content, properties);
      return true;
    } catch {
      return false;
    }
  }

  /** Stops taking deliveries; the channel stays open so running handlers can ack. */
  async stopConsuming(): Promise<void> {
    this.consuming = false;
    const channel = this.generation?.open ? this.generation.channel : null;
    for (const tag of this.consumers.values()) await channel?.cancel(tag).catch(() => undefined);
    this.consumers.clear();
  }

  /** Deliveries waiting to go back to their queue later go back now (the worker is stopping). */
  hurryDeferred(): void {
    for (const d of this.generation?.unsettled ?? []) d.hurry();
  }

  /**
   * Closes the channels before the connection: RabbitMQ may drop acks still queued on a channel when the
   * connection goes, and a channel's close-ok means every ack before it was applied.
   */
  async close(): Promise<void> {
    const publish = this.publishKeeper.stop();
    const consume = this.consumeKeeper.stop();
    await this.unlessConnectionGoes(publish?.waitForConfirms());
    await this.unlessConnectionGoes(consume?.close());
    await this.unlessConnectionGoes(publish?.close());
  }

  /** amqplib's close() settles only on the broker's close-ok: not at all when the connection dies first. */
  private async unlessConnectionGoes(work: Promise<void> | undefined): Promise<void> {
    if (!work) return;
    let gone!: () => void;
    const closed = new Promise<void>((resolve) => (gone = resolve));
    this.connection.once('close', gone);
    await Promise.race([work.catch(() => undefined), closed]);
    this.connection.off('close', gone);
  }
}
