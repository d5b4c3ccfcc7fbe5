import { FrameWriter, type FieldValue } from './frame-writer.js';

/** The message properties taskbus publishes with (a subset of AMQP's basic properties). */
export interface PublishProperties {
  readonly contentType?: string;
  readonly contentEncoding?: string;
  /** Delivery mode 2 when true, 1 when false, as amqplib's `persistent`. */
  readonly persistent?: boolean;
  readonly priority?: number;
  readonly correlationId?: string;
  readonly replyTo?: string;
  readonly expiration?: string;
}

/** Headers in two parts: entries encoded once (see constantEntries) and those that change per message. */
export interface PublishHeaders {
  readonly constant: Buffer;
  readonly varying: Readonly<Record<string, FieldValue | undefined>>;
}

export interface PublishFrame {
  readonly exchange: string;
  readonly routingKey: string;
  readonly mandatory: boolean;
  readonly properties: PublishProperties;
  /** None: no header table at all, as amqplib writes a message without `headers`. */
  readonly headers?: PublishHeaders;
  readonly content: Buffer;
}

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_END = 0xce;
/** Type, channel and size before a frame's payload, and the end octet after it. */
const FRAME_OVERHEAD = 8;
const BASIC = 60;
const BASIC_PUBLISH = 40;

const writer = new FrameWriter();

/**
 * A basic.publish as the bytes amqplib would write for it (method, content header and body frames, in one
 * buffer), with the constant header entries copied instead of encoded again. `frameMax` is the
 * connection's negotiated frame size: the body is split into frames of at most that size.
 */
export function encodePublish(f: PublishFrame, channel: number, frameMax: number): Buffer {
  const w = writer.reset();
  let sizeAt = open(w, FRAME_METHOD, channel);
  w.u16(BASIC);
  w.u16(BASIC_PUBLISH);
  w.u16(0); // ticket
  w.shortstr(f.exchange, 'exchange');
  w.shortstr(f.routingKey, 'routingKey');
  w.u8(f.mandatory ? 1 : 0); // immediate is never set: RabbitMQ refuses it
  close(w, sizeAt);
  sizeAt = open(w, FRAME_HEADER, channel);
  w.u16(BASIC);
  w.u16(0); // weight
  w.i64(f.content.length);
  properties(w, f.properties, f.headers);
  close(w, sizeAt);
  // RabbitMQ closes the whole connection on a frame over the negotiated size (501 frame_too_large), and a
  // re-send on the next connection would close that one too: refused here instead.
  const header = w.at - sizeAt - 5;
  if (frameMax > 0 && header > frameMax - FRAME_OVERHEAD) {
    throw new RangeError(`the message headers take ${header} bytes; the connection's frame size allows ${frameMax - FRAME_OVERHEAD}`);
  }
  const max = frameMax > 0 ? frameMax - FRAME_OVERHEAD : f.content.length;
  const bodyFrames = f.content.length === 0 ? 0 : Math.ceil(f.content.length / max);
  const head = w.at;
  const out = w.take(f.content.length + bodyFrames * FRAME_OVERHEAD);
  let at = head;
  for (let from = 0; from < f.content.length; from += max) {
    const chunk = Math.min(max, f.content.length - from);
    out[at] = FRAME_BODY;
    out.writeUInt16BE(channel, at + 1);
    out.writeUInt32BE(chunk, at + 3);
    at += 7 + f.content.copy(out, at + 7, from, from + chunk);
    out[at++] = FRAME_END;
  }
  return out;
}

/** Starts a frame; returns where its size goes. */
function open(w: FrameWriter, type: number, channel: number): number {
  w.u8(type);
  w.u16(channel);
  const sizeAt = w.at;
  w.u32(0);
  return sizeAt;
}

function close(w: FrameWriter, sizeAt: number): void {
  w.u32At(w.at - sizeAt - 4, sizeAt);
  w.u8(FRAME_END);
}

/** The property flags and fields, in AMQP's order. */
function properties(w: FrameWriter, p: PublishProperties, h: PublishHeaders | undefined): void {
  const flagsAt = w.at;
  w.u16(0);
  let flags = 0;
  if (p.contentType !== undefined) {
    flags |= 0x8000;
    w.shortstr(p.contentType, 'contentType');
  }
  if (p.contentEncoding !== undefined) {
    flags |= 0x4000;
    w.shortstr(p.contentEncoding, 'contentEncoding');
  }
  if (h !== undefined) {
    flags |= 0x2000;
    const tableAt = w.at;
    w.u32(0);
    w.bytes(h.constant);
    w.entries(h.varying);
    w.u32At(w.at - tableAt - 4, tableAt);
  }
  if (p.persistent !== undefined) {
    flags |= 0x1000;
    w.u8(p.persistent ? 2 : 1);
  }
  if (p.priority !== undefined) {
    // A typed-array store would wrap 256 to 0 silently; amqplib refuses it.
    if (!(p.priority >= 0 && p.priority <= 255)) throw new RangeError(`priority must be 0-255, got ${p.priority}`);
    flags |= 0x0800;
    w.u8(p.priority);
  }
  if (p.correlationId !== undefined) {
    flags |= 0x0400;
    w.shortstr(p.correlationId, 'correlationId');
  }
  if (p.replyTo !== undefined) {
    flags |= 0x0200;
    w.shortstr(p.replyTo, 'replyTo');
  }
  if (p.expiration !== undefined) {
    flags |= 0x0100;
    w.shortstr(p.expiration, 'expiration');
  }
  w.u16At(flags, flagsAt);
}
