import { randomUUID } from 'node:crypto';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { closeChannel } from '../amqp/close.js';
import { parseJson } from '../celery/json.js';
import {
  CONTROL_EXCHANGE,
  CONTROL_QUEUE_ARGUMENTS,
  encodeRequest,
  LamportClock,
  REPLY_EXCHANGE,
  replyQueue,
  type NodeReply,
} from './protocol.js';

export interface BroadcastRequest {
  readonly method: string;
  readonly arguments?: Readonly<Record<string, unknown>>;
  /** Only these node names act on it (and the wait ends once all of them answered); default: every node. */
  readonly destination?: readonly string[] | null;
  /** Wait for replies this long (Celery's default is 1 s); 0 sends without waiting (a cast). */
  readonly timeoutMs: number;
  readonly clock?: LamportClock;
}

/** Integer headers go typed: amqplib would send 128..32767 as a short int, which py-amqp 5.1 reads as a string. */
export const longHeader = (n: number) => ({ '!': 'long', value: n });

/**
 * Sends a control request to every node and collects the replies, as kombu's Mailbox._broadcast and _collect do:
 * a reply queue of its own (`<oid>.reply.celery.pidbox`, bound to `reply.celery.pidbox` with the oid), the
 * request on `celery.pidbox` with a ticket and `reply_to`, replies kept when their `ticket` header is ours and
 * their `expires` header (if any) has not passed. Runs on a channel of its own, closed at the end.
 */
export async function broadcast(connection: ChannelModel, request: BroadcastRequest): Promise<NodeReply[]> {
  const channel = await connection.createChannel();
  let failed: unknown = null;
  // A refusal closes this channel alone; the pending call rejects with it.
  channel.on('error', (e: unknown) => (failed = e));
  const clock = request.clock ?? new LamportClock();
  const replies: NodeReply[] = [];
  const waitForReplies = request.timeoutMs > 0;
  const limit = request.destination && request.destination.length > 0 ? request.destination.length : Infinity;
  const ticket = randomUUID();
  const oid = randomUUID();
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  try {
    await channel.assertExchange(CONTROL_EXCHANGE, 'fanout', { durable: false, autoDelete: false });
    if (waitForReplies) {
      await channel.assertExchange(REPLY_EXCHANGE, 'direct', { durable: false, autoDelete: false });
      const q = await channel.assertQueue(replyQueue(oid), { durable: false, autoDelete: true, arguments: { ...CONTROL_QUEUE_ARGUMENTS } });
      await channel.bindQueue(q.queue, REPLY_EXCHANGE, oid);
      await channel.consume(
        q.queue,
        (msg) => {
          if (!msg) return done();
          for (const r of readReply(msg, ticket, clock)) replies.push(r);
          if (replies.length >= limit) done();
        },
        { noAck: true },
      );
    }
    const sent = channel.publish(
      CONTROL_EXCHANGE,
      '',
      encodeRequest({
        method: request.method,
        arguments: request.arguments ?? {},
        destination: request.destination && request.destination.length > 0 ? request.destination : null,
        pattern: null,
        matcher: null,
        ...(waitForReplies ? { ticket, replyTo: { exchange: REPLY_EXCHANGE, routingKey: oid } } : {}),
      }),
      {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        deliveryMode: 2,
        headers: { clock: longHeader(clock.forward()), expires: { '!': 'double', value: Date.now() / 1000 + Math.max(request.timeoutMs, 1000) / 1000 } },
      },
    );
    if (!sent) await new Promise((resolve) => channel.once('drain', resolve));
    if (waitForReplies) {
      const timer = setTimeout(done, request.timeoutMs);
      await finished;
      clearTimeout(timer);
    }
    if (failed) throw failed;
    return replies;
  } finally {
    // Closing deletes the auto-delete reply queue.
    await closeChannel(channel);
  }
}

/** The `{node: reply}` entries of one reply message, if it answers our ticket. */
function readReply(msg: ConsumeMessage, ticket: string, clock: LamportClock): NodeReply[] {
  const headers = msg.properties.headers ?? {};
  clock.adjust(headers['clock']);
  const expires = headers['expires'];
  if (typeof expires === 'number' && expires > 0 && Date.now() / 1000 > expires) return [];
  if ((headers['ticket'] ?? ticket) !== ticket) return [];
  let body: unknown;
  try {
    body = parseJson(msg.content.toString('utf8'));
  } catch {
    return [];
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [];
  return Object.entries(body).map(([node, reply]) => ({ node, reply: reply as unknown }));
}
