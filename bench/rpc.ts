// Request/response at concurrency 1: a confirmed persistent request and its reply, one after another,
// raw amqplib against a taskbus call and result(); in this process.
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { connectClient, createWorker, silentLogger } from '@taskbus/runtime';
import { deleteQueue } from './flow.js';
import { benchTask, PAYLOAD, rawQueueOptions, URL } from './shared.js';

/** Round-trip times in ms; the responder has a connection of its own, as a taskbus worker has. */
export async function rawRoundTrips(rounds: number): Promise<number[]> {
  const queue = `bench-rawrpc-${randomUUID().slice(0, 8)}`;
  const conn = await amqp.connect(URL, { noDelay: true });
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, rawQueueOptions(queue));
  const { queue: replies } = await ch.assertQueue('', { exclusive: true });
  const responder = await amqp.connect(URL, { noDelay: true });
  const rch = await responder.createChannel();
  await rch.consume(queue, (m) => {
    if (!m) return;
    rch.publish('', m.properties.replyTo as string, m.content, { correlationId: m.properties.correlationId as string });
    rch.ack(m);
  });
  const waiting = new Map<string, () => void>();
  await ch.consume(replies, (m) => m && waiting.get(m.properties.correlationId as string)?.(), { noAck: true });
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const id = randomUUID();
    const t = performance.now();
    // The same work as a taskbus call: a persistent request the broker confirms, then the reply.
    const replied = new Promise<void>((resolve) => waiting.set(id, resolve));
    const confirmed = new Promise<void>((resolve, reject) =>
      ch.sendToQueue(queue, Buffer.from(JSON.stringify([[PAYLOAD, i], {}, {}])), { persistent: true, correlationId: id, replyTo: replies }, (err) => (err ? reject(err) : resolve())),
    );
    await Promise.all([confirmed, replied]);
    samples.push(performance.now() - t);
  }
  await responder.close();
  await conn.close();
  await deleteQueue(queue);
  return samples;
}

/** Round-trip times in ms of client.send(...) then result(), a worker in this process answering. */
export async function taskbusRoundTrips(rounds: number): Promise<number[]> {
  const task = benchTask(`bench-taskbusrpc-${randomUUID().slice(0, 8)}`);
  const worker = createWorker({ logger: silentLogger });
  worker.register(task, ([, n]) => n);
  await worker.start();
  const client = await connectClient({ logger: silentLogger });
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await (await client.send(task, [PAYLOAD, i], {})).result();
    samples.push(performance.now() - t);
  }
  await worker.stop();
  await client.close();
  await deleteQueue(task.queue);
  return samples;
}
