// Request/response at concurrency 1: a confirmed persistent request and its reply, one after another, raw
// amqplib against a taskbus call and result(); in this process. The two alternate round by round, so that
// both see the same machine: on a shared 2-core box the spread between runs is larger than the difference.
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { connectClient, createWorker, silentLogger } from '@taskbus/runtime';
import { deleteQueue } from './flow.js';
import { benchTask, PAYLOAD, rawQueueOptions, URL } from './shared.js';

/** One side of the comparison: a round trip, and the clean-up once all rounds are done. */
interface Side {
  round(i: number): Promise<void>;
  close(): Promise<void>;
}

/** Raw amqplib: the responder has a connection of its own, as a taskbus worker has. */
async function rawSide(): Promise<Side> {
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
  return {
    async round(i) {
      const id = randomUUID();
      // The same work as a taskbus call: a persistent request the broker confirms, then the reply.
      const replied = new Promise<void>((resolve) => waiting.set(id, resolve));
      const confirmed = new Promise<void>((resolve, reject) =>
        ch.sendToQueue(queue, Buffer.from(JSON.stringify([[PAYLOAD, i], {}, {}])), { persistent: true, correlationId: id, replyTo: replies }, (err) => (err ? reject(err) : resolve())),
      );
      await Promise.all([confirmed, replied]);
      waiting.delete(id);
    },
    async close() {
      await responder.close();
      await conn.close();
      await deleteQueue(queue);
    },
  };
}

/** client.send(...) then result(), a worker in this process answering. */
async function taskbusSide(): Promise<Side> {
  const task = benchTask(`bench-taskbusrpc-${randomUUID().slice(0, 8)}`);
  const worker = createWorker({ logger: silentLogger });
  worker.register(task, ([, n]) => n);
  await worker.start();
  const client = await connectClient({ logger: silentLogger });
  return {
    async round(i) {
      await (await client.send(task, [PAYLOAD, i], {})).result();
    },
    async close() {
      await worker.stop();
      await client.close();
      await deleteQueue(task.queue);
    },
  };
}

/** Round-trip times in ms of each side, `rounds` each, taken alternately (which goes first alternates too). */
export async function roundTrips(rounds: number): Promise<{ raw: number[]; taskbus: number[] }> {
  const sides = { raw: await rawSide(), taskbus: await taskbusSide() };
  const samples = { raw: [] as number[], taskbus: [] as number[] };
  try {
    for (let i = 0; i < rounds; i++) {
      for (const name of i % 2 === 0 ? (['raw', 'taskbus'] as const) : (['taskbus', 'raw'] as const)) {
        const t = performance.now();
        await sides[name].round(i);
        samples[name].push(performance.now() - t);
      }
    }
  } finally {
    await sides.taskbus.close();
    await sides.raw.close();
  }
  return samples;
}
