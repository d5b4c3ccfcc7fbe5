import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { closeChannel } from '../amqp/close.js';
import { plainChannelKeeper, type ChannelKeeper } from '../channel-keeper.js';
import type { BackoffOptions } from '../connect-options.js';
import { describeCause } from '../errors.js';
import type { Logger } from '../logger.js';
import { longHeader } from './broadcast.js';
import { runCommand, type NodeState } from './commands.js';
import { CONTROL_EXCHANGE, CONTROL_QUEUE_ARGUMENTS, decodeRequest, encodeJson, isForNode, nodeQueue, REPLY_EXCHANGE } from './protocol.js';

/**
 * A worker's mailbox (kombu's pidbox Node): its queue `<node>.celery.pidbox` bound to `celery.pidbox`, consumed
 * without acks on a channel of its own, so commands never wait behind tasks and tasks never behind commands.
 * The channel is reopened when the broker closes it, and a cancelled consumer (queue deleted) closes it to be
 * reopened with the queue declared again; a new connection attaches a new keeper.
 */
export class ControlNode {
  private keeper: ChannelKeeper<Channel> | null = null;
  private stopped = false;

  constructor(
    private readonly state: NodeState,
    private readonly log: Logger,
    private readonly backoff?: BackoffOptions,
  ) {}

  async attach(connection: ChannelModel): Promise<void> {
    this.keeper = plainChannelKeeper(connection, { name: 'worker control channel', setup: (channel) => this.subscribe(channel), log: this.log, backoff: this.backoff });
    await this.keeper.open();
  }

  /** Stops answering; the auto-delete queue goes with the consumer. */
  async detach(): Promise<void> {
    this.stopped = true;
    const channel = this.keeper?.stop();
    if (channel) await closeChannel(channel);
  }

  private async subscribe(channel: Channel): Promise<void> {
    const node = this.state.node;
    await channel.assertExchange(CONTROL_EXCHANGE, 'fanout', { durable: false, autoDelete: false });
    await channel.assertExchange(REPLY_EXCHANGE, 'direct', { durable: false, autoDelete: false });
    const q = await channel.assertQueue(nodeQueue(node), { durable: false, autoDelete: true, arguments: { ...CONTROL_QUEUE_ARGUMENTS } });
    if (q.consumerCount > 0) {
      // kombu warns the same way (W_PIDBOX_IN_USE): two nodes on one mailbox each get only some of the requests.
      this.log.warn('another node with this name already consumes its control queue; give each worker a unique name', { node });
    }
    await channel.bindQueue(q.queue, CONTROL_EXCHANGE, '');
    await channel.consume(q.queue, (msg) => (msg ? this.onRequest(channel, msg) : this.onCancel(channel)), { noAck: true });
  }

  private onCancel(channel: Channel): void {
    if (this.stopped) return;
    this.log.warn('control consumer cancelled by the broker (queue deleted?); declaring it again', { node: this.state.node });
    setImmediate(() => void channel.close().catch(() => undefined));
  }

  private onRequest(channel: Channel, msg: ConsumeMessage): void {
    try {
      const r = decodeRequest(msg.content);
      if (!r) {
        this.log.warn('unreadable control message dropped', { bytes: msg.content.length });
        return;
      }
      this.state.clock.adjust(msg.properties.headers?.['clock']);
      if (!isForNode(r, this.state.node)) return;
      const out = runCommand(r, this.state);
      if (out.revoked && out.revoked.length > 0) this.log.info('tasks flagged as revoked', { ids: out.revoked.join(',') });
      if (out.learnt) this.log.info('revokes learnt from a starting worker', { from: String(r.arguments['from_node']), count: out.learnt });
      if (!r.replyTo) return;
      // kombu always names its reply exchange; another one (missing: a 404 would close this channel) is not served.
      if (r.replyTo.exchange !== REPLY_EXCHANGE) {
        this.log.warn('control reply refused: not to the reply exchange', { method: r.method, exchange: r.replyTo.exchange.slice(0, 100) });
        return;
      }
      channel.publish(r.replyTo.exchange, r.replyTo.routingKey, Buffer.from(encodeJson({ [this.state.node]: out.reply }), 'utf8'), {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        deliveryMode: 1,
        headers: { ticket: r.ticket ?? null, clock: longHeader(this.state.clock.forward()) },
      });
    } catch (e) {
      this.log.error('control command failed', { error: describeCause(e) });
    }
  }
}
