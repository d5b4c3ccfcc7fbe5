import { createRequire } from 'node:module';
import { expect } from 'chai';
import { FrameWriter } from '../../../runtime/src/amqp/frame-writer.js';
import { encodePublish } from '../../../runtime/src/amqp/publish-frames.js';
import { encodeTask, type TaskToEncode } from '../../../runtime/src/celery/encode.js';
import { encodeResult } from '../../../runtime/src/celery/result.js';
import type { CallOptions } from '../../../runtime/src/celery/message.js';

// amqplib's own encoders, the reference: taskbus must put on the wire exactly what amqplib would.
interface Defs {
  BasicPublish: number;
  BasicProperties: number;
  encodeMethod(id: number, channel: number, fields: object): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: object): Buffer;
}
const defs = createRequire(import.meta.url)('amqplib/lib/defs.js') as Defs;

function amqplibFrames(channel: number, exchange: string, routingKey: string, mandatory: boolean, t: ReturnType<typeof encodeTask>, frameMax: number): Buffer {
  const p = t.properties;
  const method = defs.encodeMethod(defs.BasicPublish, channel, { exchange, routingKey, mandatory, immediate: false, ticket: 0 });
  const props = defs.encodeProperties(defs.BasicProperties, channel, t.content.length, {
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    headers: p.headers,
    deliveryMode: 2,
    priority: p.priority,
    correlationId: p.correlationId,
    replyTo: p.replyTo,
    expiration: p.expiration,
  });
  const bodies: Buffer[] = [];
  for (let from = 0; from < t.content.length; from += frameMax - 8) {
    const chunk = t.content.subarray(from, from + frameMax - 8);
    const head = Buffer.alloc(7);
    head[0] = 3;
    head.writeUInt16BE(channel, 1);
    head.writeUInt32BE(chunk.length, 3);
    bodies.push(head, chunk, Buffer.from([0xce]));
  }
  return Buffer.concat([method, props, ...bodies]);
}

const base: TaskToEncode = { id: '6f1c9a52-1d3e-4b8a-9c11-2f0e5d7a8b90', task: 'pusher.send_to_s3_v2', args: ['models/a.json', 3], kwargs: {}, replyTo: 'e3b0c442-98fc-4c14-9afb-f4c8996fb924', origin: 'gen42@host', options: {} };
const now = new Date('2026-11-29T12:00:00.000Z');
const cases: [string, Partial<TaskToEncode>, CallOptions][] = [
  ['a plain call', {}, {}],
  ['eta, expires, priority, time limits, retries', {}, { countdown: 30, expires: 600, priority: 9, timeLimit: 60, softTimeLimit: 50, retries: 70_000 }],
  ['fractional time limits (doubles)', {}, { timeLimit: 1.5, softTimeLimit: 0.25 }],
  ['negative and large integers', { args: [-1, 2 ** 40] }, { retries: 2 ** 33 }],
  ['non-ASCII arguments and task name', { task: 'püsher.sénd_✓', args: ['日本語', '😀'.repeat(200)], kwargs: { ключ: 'значение' } }, {}],
  ['kwargs, parent and root ids, ignore_result', { kwargs: { a: 1, b: [true, null] }, parentId: 'parent', rootId: 'root' }, { ignoreResult: true }],
  ['a body bigger than one frame', { args: ['x'.repeat(300_000)] }, {}],
];

describe('amqp/encodePublish', () => {
  for (const [name, task, options] of cases) {
    it(`writes the bytes amqplib writes: ${name}`, () => {
      const t = encodeTask({ ...base, ...task, options }, now);
      for (const [channel, exchange, routingKey, mandatory, frameMax] of [
        [1, '', 'pusher', true, 131_072],
        [65_535, 'celery_delayed_27', '0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.1.1.1.0.pusher', false, 4096],
      ] as const) {
        const ours = encodePublish({ exchange, routingKey, mandatory, properties: t.properties, headers: t.wireHeaders, content: t.content }, channel, frameMax);
        expect(ours.equals(amqplibFrames(channel, exchange, routingKey, mandatory, t, frameMax)), `channel ${channel}`).to.equal(true);
      }
    });
  }

  it('writes the bytes amqplib writes with the trace context added to the varying headers (as the client adds it)', () => {
    const t = encodeTask(base, now);
    t.wireHeaders.varying['traceparent'] = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    t.wireHeaders.varying['tracestate'] = 'py=1,vendor=ü';
    expect(t.properties.headers).to.include({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'py=1,vendor=ü' });
    const ours = encodePublish({ exchange: '', routingKey: 'pusher', mandatory: true, properties: t.properties, headers: t.wireHeaders, content: t.content }, 1, 131_072);
    expect(ours.equals(amqplibFrames(1, '', 'pusher', true, t, 131_072))).to.equal(true);
  });

  it('refuses a routing key over 255 bytes, as amqplib does', () => {
    const t = encodeTask(base, now);
    expect(() => encodePublish({ exchange: '', routingKey: 'q'.repeat(256), mandatory: true, properties: t.properties, headers: t.wireHeaders, content: t.content }, 1, 131_072)).to.throw(TypeError, /routingKey/);
  });

  it('writes the bytes amqplib writes for a message without headers (a Celery reply)', () => {
    const r = encodeResult({ taskId: base.id, status: 'SUCCESS', result: { ok: true }, traceback: null });
    const ours = encodePublish({ exchange: '', routingKey: base.replyTo, mandatory: false, properties: r.properties, content: r.content }, 7, 131_072);
    const method = defs.encodeMethod(defs.BasicPublish, 7, { exchange: '', routingKey: base.replyTo, mandatory: false, immediate: false, ticket: 0 });
    const props = defs.encodeProperties(defs.BasicProperties, 7, r.content.length, { contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 1, correlationId: base.id });
    const body = Buffer.concat([Buffer.from([3, 0, 7]), Buffer.alloc(4), r.content, Buffer.from([0xce])]);
    body.writeUInt32BE(r.content.length, 3);
    expect(ours.equals(Buffer.concat([method, props, body]))).to.equal(true);
  });

  it('refuses headers bigger than a frame: RabbitMQ would close the whole connection (501 frame_too_large)', () => {
    const t = encodeTask({ ...base, task: 'n'.repeat(5000) }, now);
    const frame = { exchange: '', routingKey: 'q', mandatory: true, properties: t.properties, headers: t.wireHeaders, content: t.content };
    expect(() => encodePublish(frame, 1, 4096)).to.throw(RangeError, /frame size allows 4088/);
    expect(encodePublish(frame, 1, 131_072).length).to.be.greaterThan(5000);
  });

  it('refuses a priority outside 0-255 as amqplib does, instead of wrapping 256 to 0', () => {
    for (const priority of [256, -1, Number.NaN]) {
      const t = encodeTask({ ...base, options: { priority } }, now);
      expect(() => encodePublish({ exchange: '', routingKey: 'q', mandatory: true, properties: t.properties, headers: t.wireHeaders, content: t.content }, 1, 131_072), String(priority)).to.throw(RangeError, /priority/);
    }
  });

  it('grows its buffer for headers bigger than it', () => {
    const w = new FrameWriter(8);
    w.table({ argsrepr: 'é'.repeat(5000), n: { '!': 'long', value: 7 } });
    const out = w.take();
    expect(out.readUInt32BE(0)).to.equal(out.length - 4);
    expect(out.length).to.equal(4 + 1 + 8 + 1 + 4 + 10_000 + 1 + 1 + 1 + 8);
  });
});
