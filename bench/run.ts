// Throughput and request/response latency of taskbus against raw amqplib doing the same work (durable
// queue, persistent messages, publisher confirms, manual acks), measured in the same run on the same
// broker. Run with `npm run bench` (BENCH_N sets the message count). Reports ratios; asserts nothing.
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import amqp from 'amqplib';
import { connectClient, createWorker, defineTask, silentLogger } from '@taskbus/runtime';

const URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const N = Number(process.env['BENCH_N'] ?? 20_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 500);
const WINDOW = 1000;
const PAYLOAD = 'x'.repeat(900);

async function rawThroughput(queue: string): Promise<number> {
  const conn = await amqp.connect(URL, { noDelay: true });
  const pub = await conn.createConfirmChannel();
  const sub = await conn.createChannel();
  await pub.assertQueue(queue, { durable: true });
  await sub.prefetch(100);
  const started = performance.now();
  const done = new Promise<void>((resolve) => {
    let seen = 0;
    void sub.consume(queue, (m) => {
      if (!m) return;
      JSON.parse(m.content.toString('utf8'));
      sub.ack(m);
      if (++seen === N) resolve();
    });
  });
  for (let i = 0; i < N; i += WINDOW) {
    for (let j = i; j < Math.min(N, i + WINDOW); j++) {
      pub.publish('', queue, Buffer.from(JSON.stringify([[PAYLOAD, j], {}, {}])), { persistent: true, contentType: 'application/json' });
    }
    await pub.waitForConfirms();
  }
  await done;
  const seconds = (performance.now() - started) / 1000;
  await pub.deleteQueue(queue);
  await conn.close();
  return N / seconds;
}

const spec = (queue: string) =>
  defineTask<[body: string, n: number], Record<string, never>, number>({ name: 'bench.echo', queue, args: { body: Type.String(), n: Type.Integer() }, result: Type.Integer() });

async function taskbusThroughput(queue: string): Promise<number> {
  const task = spec(queue);
  let seen = 0;
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const worker = createWorker({ logger: silentLogger, prefetch: 100 });
  worker.register(task, ([, n]) => {
    if (++seen === N) resolve();
    return n;
  });
  await worker.start();
  const client = await connectClient({ logger: silentLogger });
  const started = performance.now();
  for (let i = 0; i < N; i += WINDOW) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(N, i + WINDOW); j++) batch.push(client.send(task, [PAYLOAD, j], {}, { ignoreResult: true }));
    await Promise.all(batch);
  }
  await done;
  const seconds = (performance.now() - started) / 1000;
  await worker.stop();
  await client.close();
  return N / seconds;
}

function stats(samples: number[]): { p50: number; p99: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length / 2)]!, p99: s[Math.floor(s.length * 0.99)]!, mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function rawLatency(queue: string): Promise<number[]> {
  const conn = await amqp.connect(URL, { noDelay: true });
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true });
  const { queue: replies } = await ch.assertQueue('', { exclusive: true });
  await ch.consume(queue, (m) => {
    if (!m) return;
    ch.publish('', m.properties.replyTo as string, m.content, { correlationId: m.properties.correlationId as string });
    ch.ack(m);
  });
  const waiting = new Map<string, () => void>();
  await ch.consume(replies, (m) => m && waiting.get(m.properties.correlationId as string)?.(), { noAck: true });
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const id = randomUUID();
    const t = performance.now();
    // The same work as a taskbus call: a persistent request the broker confirms, then the reply.
    const replied = new Promise<void>((resolve) => waiting.set(id, resolve));
    const confirmed = new Promise<void>((resolve, reject) =>
      ch.sendToQueue(queue, Buffer.from(JSON.stringify([[PAYLOAD, i], {}, {}])), { persistent: true, correlationId: id, replyTo: replies }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    await Promise.all([confirmed, replied]);
    samples.push(performance.now() - t);
  }
  await ch.deleteQueue(queue);
  await conn.close();
  return samples;
}

async function taskbusLatency(queue: string): Promise<number[]> {
  const task = spec(queue);
  const worker = createWorker({ logger: silentLogger });
  worker.register(task, ([, n]) => n);
  await worker.start();
  const client = await connectClient({ logger: silentLogger });
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await (await client.send(task, [PAYLOAD, i], {})).result();
    samples.push(performance.now() - t);
  }
  await worker.stop();
  await client.close();
  const raw = await amqp.connect(URL);
  const ch = await raw.createChannel();
  await ch.deleteQueue(queue);
  await ch.deleteQueue(`${queue}.dlq`);
  await ch.deleteExchange(queue);
  await raw.close();
  return samples;
}

// Alternate baseline and taskbus a few times and keep medians: one 2-core machine runs the broker too.
const TRIALS = Number(process.env['BENCH_TRIALS'] ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rates = { raw: [] as number[], taskbus: [] as number[] };
const lat = { raw: [] as ReturnType<typeof stats>[], taskbus: [] as ReturnType<typeof stats>[] };
for (let trial = 0; trial < TRIALS; trial++) {
  const tag = randomUUID().slice(0, 8);
  rates.raw.push(await rawThroughput(`bench-raw-${tag}`));
  rates.taskbus.push(await taskbusThroughput(`bench-taskbus-${tag}`));
  lat.raw.push(stats(await rawLatency(`bench-rawrpc-${tag}`)));
  lat.taskbus.push(stats(await taskbusLatency(`bench-taskbusrpc-${tag}`)));
}
const f = (n: number) => n.toFixed(2);
const rawRate = median(rates.raw);
const busRate = median(rates.taskbus);
const p50 = (xs: ReturnType<typeof stats>[]) => median(xs.map((x) => x.p50));
const p99 = (xs: ReturnType<typeof stats>[]) => median(xs.map((x) => x.p99));
console.log(`throughput, ${N} tasks of ~900 bytes, confirms + manual acks, end to end (median of ${TRIALS})`);
console.log(`  raw amqplib  ${Math.round(rawRate)} msgs/s   trials ${rates.raw.map(Math.round).join(', ')}`);
console.log(`  taskbus      ${Math.round(busRate)} tasks/s  trials ${rates.taskbus.map(Math.round).join(', ')}   ratio ${f(busRate / rawRate)}x (validation on)`);
console.log(`request/response, concurrency 1, ${ROUNDS} rounds per trial, confirmed persistent request (ms, median of ${TRIALS})`);
console.log(`  raw amqplib  p50 ${f(p50(lat.raw))}  p99 ${f(p99(lat.raw))}`);
console.log(`  taskbus      p50 ${f(p50(lat.taskbus))}  p99 ${f(p99(lat.taskbus))}   p50 ratio ${f(p50(lat.taskbus) / p50(lat.raw))}x`);
