// Request/response at concurrency 1: a confirmed persistent request and its reply, one after another, raw
// amqplib (a plain message, and the Celery message by hand) against a taskbus call and result(); in this
// process. The sides take turns round by round, so that all see the same machine: on a shared 2-core box the
// spread between runs is larger than the differences measured.
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { connectClient, createWorker, silentLogger } from '@taskbus/runtime';
import { deleteQueue } from './flow.js';
import { benchTask, celeryMessage, PAYLOAD, plainMessage, rawQueueOptions, URL } from './shared.js';

/** One side of the comparison: a round trip, and the clean-up once all rounds are done. */
interface Side {
  round(i: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Raw amqplib: the responder has a connection of its own, as a taskbus worker has. `plain` echoes a JSON body
 * without headers; `celery` sends the Celery message taskbus sends (built by hand) and answers with Celery's
 * rpc reply, each side reading the other's JSON, as any Celery peer must.
 */
async function rawSide(kind: 'plain' | 'celery'): Promise<Side> {
  const queue = `bench-rawrpc-${randomUUID().slice(0, 8)}`;
  const conn = await amqp.connect(URL, { noDelay: true });
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, rawQueueOptions(queue));
  const { queue: replies } = await ch.assertQueue('', { exclusive: true });
  const responder = await amqp.connect(URL, { noDelay: true });
  const rch = await responder.createChannel();
  await rch.consume(queue, (m) => {
    if (!m) return;
    const id = m.properties.correlationId as string;
    const content = kind === 'plain' ? m.content : celeryReply(id, (JSON.parse(m.content.toString()) as [[string, number]])[0][1]);
    rch.publish('', m.properties.replyTo as string, content, { correlationId: id, contentType: 'application/json', contentEncoding: 'utf-8' });
    rch.ack(m);
  });
  const waiting = new Map<string, () => void>();
  await ch.consume(
    replies,
    (m) => {
      if (!m) return;
      if (kind === 'celery') JSON.parse(m.content.toString());
      waiting.get(m.properties.correlationId as string)?.();
    },
    { noAck: true },
  );
  return {
    async round(i) {
      // The same work as a taskbus call: a persistent request the broker confirms, then the reply.
      const { content, options } = kind === 'plain' ? { ...plainMessage(i), options: { ...plainMessage(i).options, correlationId: randomUUID(), replyTo: replies } } : celeryMessage(i, replies);
      const id = options.correlationId as string;
      const replied = new Promise<void>((resolve) => waiting.set(id, resolve));
      const confirmed = new Promise<void>((resolve, reject) => ch.publish('', queue, content, options, (err) => (err ? reject(err) : resolve())));
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

function celeryReply(id: string, result: number): Buffer {
  return Buffer.from(JSON.stringify({ task_id: id, status: 'SUCCESS', result, traceback: null, children: [] }));
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

export const RPC_SIDES = ['raw-plain', 'raw-celery', 'taskbus'] as const;
export type RpcSide = (typeof RPC_SIDES)[number];

/** Round-trip times in ms of each side, `rounds` each, taken in turn (the order rotates every round). */
export async function roundTrips(rounds: number): Promise<Record<RpcSide, number[]>> {
  const sides: Record<RpcSide, Side> = { 'raw-plain': await rawSide('plain'), 'raw-celery': await rawSide('celery'), taskbus: await taskbusSide() };
  const samples: Record<RpcSide, number[]> = { 'raw-plain': [], 'raw-celery': [], taskbus: [] };
  try {
    for (let i = 0; i < rounds; i++) {
      for (let k = 0; k < RPC_SIDES.length; k++) {
        const name = RPC_SIDES[(i + k) % RPC_SIDES.length]!;
        const t = performance.now();
        await sides[name].round(i);
        samples[name].push(performance.now() - t);
      }
    }
  } finally {
    for (const side of Object.values(sides)) await side.close();
  }
  return samples;
}
