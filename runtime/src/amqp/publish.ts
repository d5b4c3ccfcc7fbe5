import type { ConfirmChannel, Options } from 'amqplib';
import { encodePublish, type PublishFrame, type PublishProperties } from './publish-frames.js';

/** A message to publish, its headers split as the frame encoder takes them. */
export interface OutgoingMessage extends PublishFrame {
  /** With the headers as one object (if any), for amqplib's own encoder. */
  readonly properties: PublishProperties & { readonly headers?: Readonly<Record<string, unknown>> };
}

type ConfirmCallback = (err: unknown, ok: unknown) => void;

/** The parts of amqplib 0.10's channel and connection that writing encoded frames relies on. */
interface ChannelInternals {
  readonly ch: number;
  readonly connection: ConnectionInternals;
  pushConfirmCallback(cb: ConfirmCallback): void;
  /** Throws once the channel is closing or closed. */
  sendMessage(fields: unknown, properties: unknown, content: Buffer): boolean;
}
interface ConnectionInternals {
  readonly frameMax: number;
  readonly channels: readonly ({ readonly buffer: { write(b: Buffer): boolean } } | undefined)[];
  sentSinceLastCheck: boolean;
  sendMessage(channel: number, method: unknown, fields: unknown, propsClass: unknown, props: unknown, content: Buffer): boolean;
}

/** Marks a sendMessage whose content is already the encoded frames. */
const ENCODED = Symbol('taskbus encoded frames');
const patched = new WeakSet<ConnectionInternals>();

/** A message that cannot be put in AMQP frames (a short string over 255 bytes, a header bigger than a frame): nothing was written. */
export class UnencodableMessageError extends Error {}

/**
 * amqplib encodes a message's header table field by field at every publish, which costs more than all of
 * a Celery task's other publishing work; here the frames are encoded by publish-frames (constant header
 * entries copied) and handed to amqplib's own write path, so flow control, confirms and the closing of
 * channels stay amqplib's. An amqplib whose internals differ gets its own publish.
 */
export function publishEncoded(channel: ConfirmChannel, m: OutgoingMessage, cb: ConfirmCallback): boolean {
  const internals = channel as unknown as ChannelInternals;
  const fast = writesEncoded(internals);
  let frames: Buffer;
  try {
    // Encoded before anything is queued, in both paths: amqplib's publish queues the confirm callback and
    // then throws on a field it cannot encode, so the next publish's confirm would go to this one.
    const frameMax = internals.connection?.frameMax;
    frames = encodePublish(m, fast ? internals.ch : 1, typeof frameMax === 'number' ? frameMax : 0);
  } catch (e) {
    throw new UnencodableMessageError(e instanceof Error ? e.message : String(e), { cause: e });
  }
  // The headers named: they may be a getter, which a spread leaves out.
  if (!fast) return channel.publish(m.exchange, m.routingKey, m.content, { ...m.properties, headers: m.properties.headers, mandatory: m.mandatory }, cb);
  internals.pushConfirmCallback(cb);
  return internals.sendMessage(ENCODED, ENCODED, frames);
}

function writesEncoded(ch: ChannelInternals): boolean {
  // The channel is checked every time: the connection being patched says nothing about this channel.
  if (typeof ch.ch !== 'number' || typeof ch.pushConfirmCallback !== 'function' || typeof ch.sendMessage !== 'function') return false;
  const c = ch.connection;
  if (patched.has(c)) return true;
  if (!c || typeof c.frameMax !== 'number' || !Array.isArray(c.channels) || typeof c.sendMessage !== 'function') return false;
  const original = c.sendMessage;
  c.sendMessage = function (this: ConnectionInternals, channel, method, fields, propsClass, props, content) {
    if (fields !== ENCODED) return original.call(this, channel, method, fields, propsClass, props, content);
    this.sentSinceLastCheck = true;
    return this.channels[channel]!.buffer.write(content);
  };
  patched.add(c);
  return true;
}

/**
 * amqplib's own publish, for messages whose headers the frame encoder does not take (copies of deliveries), with
 * the confirm callback it queued taken back when it throws: it queues the callback before it encodes the message,
 * so one it cannot encode (a header key it decoded to more than 255 bytes: invalid UTF-8 read as U+FFFD) would
 * hand every later publish's confirm to the one before it.
 */
export function publishOwn(channel: ConfirmChannel, exchange: string, routingKey: string, content: Buffer, options: Options.Publish, cb: ConfirmCallback): boolean {
  try {
    return channel.publish(exchange, routingKey, content, options, cb);
  } catch (e) {
    const unconfirmed = (channel as unknown as { unconfirmed?: unknown }).unconfirmed;
    if (Array.isArray(unconfirmed) && unconfirmed.at(-1) === cb) unconfirmed.pop();
    throw e;
  }
}
