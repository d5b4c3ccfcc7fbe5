import { expect } from 'chai';
import type { ConfirmChannel } from 'amqplib';
import { publishEncoded } from '../../runtime/src/amqp/publish.js';
import { encodeTask } from '../../runtime/src/celery/encode.js';
import { openConnection } from '../../runtime/src/connection.js';
import { deleteQueues, rawBroker, uniqueQueue } from '../support/broker.js';

/** Counts the writes a socket hands to the kernel: one per write() uncorked, one per writev. */
function countWrites(socket: { _write: (...a: unknown[]) => unknown; _writev?: (...a: unknown[]) => unknown }): () => number {
  let n = 0;
  const write = socket._write.bind(socket);
  socket._write = (...a: unknown[]) => (n++, write(...a));
  const writev = socket._writev?.bind(socket);
  if (writev) socket._writev = (...a: unknown[]) => (n++, writev(...a));
  return () => n;
}

const traceparent = (i: number) => `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-${i.toString(16).padStart(16, '0')}-01`;

describe('the publish fast path on amqplib (encoded frames, coalesced writes)', () => {
  it('a burst of tasks is written as encoded frames in far fewer socket writes than tasks, and arrives intact', async () => {
    const queue = uniqueQueue('fast-path');
    const model = await openConnection();
    const raw = await rawBroker();
    try {
      const socket = (model as unknown as { connection: { stream: Parameters<typeof countWrites>[0] } }).connection.stream;
      const channel: ConfirmChannel = await model.createConfirmChannel();
      await channel.assertQueue(queue, { durable: true });
      const fallback = { publishes: 0 };
      const publish = channel.publish.bind(channel);
      channel.publish = (...a: Parameters<ConfirmChannel['publish']>) => (fallback.publishes++, publish(...a));
      const writes = countWrites(socket);
      const n = 300;
      for (let i = 0; i < n; i++) {
        const t = encodeTask({ id: `fast-${i}`, task: 'fast.job', args: [i, 'ü'], kwargs: {}, replyTo: 'r', origin: 'test', options: { retries: 300, timeLimit: 30 } });
        // Every other one with the trace context the client adds when an OpenTelemetry SDK is registered.
        if (i % 2) t.wireHeaders.varying['traceparent'] = traceparent(i);
        publishEncoded(channel, { exchange: '', routingKey: queue, mandatory: true, properties: t.properties, headers: t.wireHeaders, content: t.content }, () => undefined);
      }
      await channel.waitForConfirms();
      expect(fallback.publishes, 'amqplib publish used instead of the encoded frames').to.equal(0);
      expect(writes(), 'socket writes for 300 publishes').to.be.below(n / 5);
      for (let i = 0; i < n; i++) {
        const m = await raw.channel.get(queue, { noAck: true });
        if (!m) throw new Error(`message ${i} missing`);
        expect(JSON.parse(m.content.toString())[0]).to.deep.equal([i, 'ü']);
        expect(m.properties).to.include({ correlationId: `fast-${i}`, deliveryMode: 2, contentType: 'application/json' });
        expect(m.properties.headers).to.deep.include({ id: `fast-${i}`, task: 'fast.job', retries: 300, timelimit: [30, null], lang: 'py' });
        expect(m.properties.headers?.['traceparent']).to.equal(i % 2 ? traceparent(i) : undefined);
      }
    } finally {
      await model.close();
      await deleteQueues(queue);
      await raw.close();
    }
  });
});
