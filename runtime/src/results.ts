import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { RawDelivery } from './celery/decode.js';
import { decodeResult, FINAL_STATES } from './celery/result.js';
import { plainChannelKeeper, type ChannelKeeper } from './channel-keeper.js';
import { describeCause, TopologyError } from './errors.js';
import type { Logger } from './logger.js';
import type { BackoffOptions } from './connect-options.js';
import type { ResultStore } from './result-store.js';

/** Celery's default `result_expires`: the reply queue outlives a crashed client by a day at most. */
const REPLY_QUEUE_EXPIRES_MS = 86_400_000;

/**
 * The client process's reply queue (Celery's rpc:// backend: one queue per process, named by its
 * reply_to, replies correlated by task id), consumed on a channel of its own. A channel the broker closes
 * is reopened, and a cancelled consumer (the queue was deleted) declares the queue again and re-subscribes,
 * both with backoff; replies sent meanwhile wait in the queue, which is not auto-delete.
 */
export class ResultListener {
  private keeper: ChannelKeeper<Channel> | null = null;
  private detaching = false;

  constructor(
    private readonly queue: string,
    private readonly store: ResultStore,
    private readonly log: Logger,
    private readonly backoff?: BackoffOptions,
  ) {}

  /** Declares the reply queue and consumes it; called on every new connection. */
  async attach(connection: ChannelModel): Promise<void> {
    this.keeper = plainChannelKeeper(connection, { name: 'client reply channel', setup: (channel) => this.subscribe(channel), log: this.log, backoff: this.backoff });
    await this.keeper.open();
  }

  /** Deletes the reply queue (clean shutdown). */
  async detach(): Promise<void> {
    this.detaching = true;
    this.keeper?.stop();
    const channel = this.keeper?.current;
    if (!channel) return; // disconnected: the broker removes the queue after x-expires
    await channel.deleteQueue(this.queue).catch((e: unknown) =>
      this.log.warn('could not delete the reply queue; the broker removes it after x-expires', { queue: this.queue, error: describeCause(e) }),
    );
  }

  private async subscribe(channel: Channel): Promise<void> {
    // Not auto-delete: replies sent while reconnecting must wait for us. x-expires removes the queue of a
    // process that died; close() deletes it at once.
    try {
      await channel.assertQueue(this.queue, { durable: false, autoDelete: false, arguments: { 'x-expires': REPLY_QUEUE_EXPIRES_MS } });
    } catch (e) {
      throw new TopologyError(this.queue, e);
    }
    await channel.consume(this.queue, (msg) => (msg ? this.onReply(msg) : this.onCancel(channel)), { noAck: true });
  }

  /** The broker cancelled the consumer (queue deleted): a fresh channel declares the queue before consuming again. */
  private onCancel(channel: Channel): void {
    if (this.detaching) return;
    this.log.warn('reply consumer cancelled by the broker (reply queue deleted?); declaring the queue again and re-subscribing', { queue: this.queue });
    // Closing hands the channel to the keeper, which reopens it with backoff and replays subscribe().
    setImmediate(() => {
      channel.close().catch((e: unknown) => this.log.warn('closing the cancelled reply channel failed', { error: describeCause(e) }));
    });
  }

  private onReply(msg: ConsumeMessage): void {
    receiveReply(msg, this.store, this.log);
  }
}

/** A reply read off the reply queue (or handed over in memory by the test harness) into the store. */
export function receiveReply(msg: RawDelivery, store: ResultStore, log: Logger): void {
  const decoded = decodeResult(msg);
  if (!decoded.ok) {
    log.warn('unreadable result reply dropped', { detail: decoded.detail, id: String(msg.properties.correlationId ?? '') });
    return;
  }
  // STARTED, RETRY and other progress states say nothing about the outcome.
  if (FINAL_STATES.has(decoded.message.status)) store.deliver(decoded.message, msg.content.length);
}
