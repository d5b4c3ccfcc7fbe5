import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { closeChannel } from '../amqp/close.js';
import { messageSizeLimit } from '../amqp/message-size.js';
import { publishEncoded, publishOwn, UnencodableMessageError } from '../amqp/publish.js';
import type { PublishProperties } from '../amqp/publish-frames.js';
import { ChannelKeeper } from '../channel-keeper.js';
import { describeCause, TopologyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { BackoffOptions } from '../connect-options.js';
import { backoffDelay } from '../reconnect.js';
import { dlqName } from '../deadletter.js';
import { declareDeadLetterQueue } from '../topology/declare.js';
import { Declarer, type OpenChannel } from '../topology/declarer.js';
import { ensureNativeDelay } from '../topology/routes.js';
import type { QueueType } from '../topology/queue-type.js';
import { ensureTaskQueue } from '../topology/task-queue.js';
import { ConsumeGeneration, Delivery } from './delivery.js';

/** Marks each copy the worker publishes, so a broker return is matched to the copy it refers to. */
const COPY_HEADER = 'x-taskbus-copy';

const ignoreConfirm = (): void => undefined;

/** What became of a copy: confirmed and routed to a queue, returned as unroutable, not confirmed, or not encodable. */
export type CopyResult = 'routed' | 'unroutable' | 'refused' | 'unencodable';

export interface ChannelsOptions {
  readonly queues: readonly string[];
  /** The type each queue gets if taskbus has to create it. */
  readonly queueType: (queue: string) => QueueType;
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
  /** The broker's max_message_size once it closed the publish channel for a reply over it (this connection). */
  private brokerMaxBytes: number | null = null;
  private readonly declarer: Declarer;
  private generation: ConsumeGeneration | null = null;
  private readonly consumers = new Map<string, string>();
  private readonly cancels = new Map<string, number>();
  /** Per queue, the arguments it was found with, to declare it with again if it is deleted. */
  private readonly declaredAs = new Map<string, Record<string, unknown>>();
  private consuming = true;

  constructor(
    connection: ChannelModel,
    private readonly o: ChannelsOptions,
  ) {
    this.declarer = new Declarer(connection);
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
        ch.on('error', (e: unknown) => (this.brokerMaxBytes = messageSizeLimit(e) ?? this.brokerMaxBytes));
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
   * Runs a declaration once per connection on channels of its own; a refusal is not remembered, so the
   * next use tries again. `forget` makes the next use declare again (the queue was deleted meanwhile).
   */
  declare<T>(key: string, declare: (open: OpenChannel) => Promise<T>): Promise<T> {
    return this.declarer.once(key, declare);
  }

  forget(key: string): void {
    this.declarer.forget(key);
  }

  /** The type of a task queue's own queues (dead-letter), as configured for it. */
  queueType(queue: string): QueueType {
    return this.o.queueType(queue);
  }

  private async subscribeAll(channel: Channel): Promise<void> {
    await channel.prefetch(this.o.prefetch);
    const generation = new ConsumeGeneration(channel);
    this.generation = generation;
    if (!this.consuming) return;
    for (const queue of this.o.queues) await this.subscribe(generation, queue);
  }

  private async subscribe(g: ConsumeGeneration, queue: string): Promise<void> {
    await this.declare(`queue:${queue}`, (open) => this.ensureQueue(open, queue));
    // Declared up front so operators (and `taskbus dlq`) find it; moving a dead letter declares it again if needed.
    await this.declare(dlqName(queue), (open) => declareDeadLetterQueue(open, queue, this.o.queueType(queue))).catch((e: unknown) => {
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
      this.forget(`delayed:${queue}`);
      // Refused for good (no read permission; exclusive to another connection): say so, typed.
      const code = (e as { code?: unknown } | null)?.code;
      throw code === 403 || code === 405 ? new TopologyError(queue, e) : e;
    }
  }

  /**
   * The task queue as a Celery peer may have declared it. A quorum queue behind a topic exchange is bound
   * for Celery's native delayed delivery, as a Celery 5.5+ worker binds it, so countdowns sent to it (from
   * Python or TypeScript) arrive; failing that only delays native countdowns, so it is logged, not fatal.
   */
  private async ensureQueue(open: OpenChannel, queue: string): Promise<void> {
    const found = await ensureTaskQueue(open, queue, this.o.queueType(queue), this.declaredAs.get(queue));
    // Created again (deleted under us) as it was found, not as taskbus would create it: a Celery fleet that
    // declares it with its own arguments must not be refused (406) at its next start.
    if (found.arguments) this.declaredAs.set(queue, found.arguments);
    if (found.type === 'stream') {
      // Every consumer of a stream reads every message, and an ack removes nothing: each worker would run each task.
      throw new TopologyError(queue, new Error('it is a stream, which gives every message to every consumer: workers need a classic or quorum queue (bind one to the stream\'s exchange)'));
    }
    if (found.type !== this.o.queueType(queue)) this.o.log.info('using the queue as it exists', { queue, type: found.type ?? 'unknown', exchange: found.exchangeType ?? 'unknown' });
    if (!found.nativeDelay) return;
    try {
      await ensureNativeDelay(this.declarer, queue);
    } catch (e) {
      this.o.log.error('cannot bind the queue for native delayed delivery; countdowns sent that way wait until it can be', { queue, error: describeCause(e) });
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
    // A deleted queue took its `#.<queue>` binding with it: without binding it again, native countdowns to it are lost.
    this.forget(`delayed:${queue}`);
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
    let unencodable = false;
    const err = await new Promise<unknown>((resolve) => {
      try {
        publishOwn(channel, '', queue, content, { ...properties, headers, mandatory: true }, resolve);
      } catch (e) {
        // amqplib says IllegalOperationError when the channel closed between the check and the write; anything
        // else is a copy it cannot encode, which sending again would not change.
        unencodable = (e as { name?: unknown } | null)?.name !== 'IllegalOperationError';
        resolve(e);
      }
    });
    if (unencodable) {
      this.o.log.warn('copy cannot be encoded', { queue, error: describeCause(err) });
      return 'unencodable';
    }
    // A return comes before the confirm of the same message.
    if (this.returned.get(channel)?.delete(copyId)) return 'unroutable';
    if (err) {
      this.o.log.warn('copy not confirmed by the broker', { queue, error: describeCause(err) });
      return 'refused';
    }
    return 'routed';
  }

  /**
   * Celery rpc replies are transient and not waited for, as Celery's own. Encoded before anything is queued:
   * amqplib's publish queues a confirm callback and then throws on a field it cannot encode (a task id over
   * 255 bytes as the correlation id), which would hand every later copy's confirm to the publish before it.
   */
  reply(queue: string, content: Buffer, properties: PublishProperties): 'sent' | 'no channel' | 'unencodable' | 'too large' {
    // Sent, it would close the channel again, taking the copies in flight on it along.
    if (this.brokerMaxBytes !== null && content.length > this.brokerMaxBytes) return 'too large';
    const channel = this.publishKeeper.current;
    if (!channel) return 'no channel';
    try {
      publishEncoded(channel, { exchange: '', routingKey: queue, mandatory: false, properties, content }, ignoreConfirm);
      return 'sent';
    } catch (e) {
      return e instanceof UnencodableMessageError ? 'unencodable' : 'no channel'; // else it closed between the check and the write
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
    // Both settle when the connection dies first (confirms fail with their channel); a plain close() would not.
    await publish?.waitForConfirms().catch(() => undefined);
    if (consume) await closeChannel(consume);
    if (publish) await closeChannel(publish);
  }
}
