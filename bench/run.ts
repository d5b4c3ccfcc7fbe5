// Throughput and request/response latency of taskbus against raw amqplib doing the same work (durable
// queue, persistent messages, publisher confirms, manual acks), measured in the same run on the same
// broker; for throughput the consumer is a process of its own (bench/consumer.ts). Run with
// `npm run bench` (BENCH_N sets the message count). Reports ratios; asserts nothing.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { connectClient, createWorker, silentLogger } from '@taskbus/runtime';
import { benchTask, PAYLOAD, QUEUE_TYPE, rawQueueOptions, URL } from './shared.js';

const N = Number(process.env['BENCH_N'] ?? 20_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 500);
const WINDOW = 1000;

/** Starts the consumer process and resolves with a function that waits for its "done <ms>" line. */
async function consumer(mode: 'raw' | 'taskbus', queue: string): Promise<{ finished: Promise<number>; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/consumer.ts', mode, queue, String(N)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let ready!: () => void;
  let done!: (at: number) => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const finished = new Promise<number>((r) => (done = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready')) ready();
    const m = /done (\d+)/.exec(out);
    if (m) done(Number(m[1]));
  });
  await isReady;
  return { finished, stop: () => child.kill('SIGTERM') };
}

/** Publishes N messages with confirms in windows, while a consumer process takes them; end-to-end rate. */
async function throughput(mode: 'raw' | 'taskbus', queue: string): Promise<number> {
  const sink = await consumer(mode, queue);
  const started = Date.now();
  if (mode === 'raw') {
    const conn = await amqp.connect(URL, { noDelay: true });
    const pub = await conn.createConfirmChannel();
    for (let i = 0; i < N; i += WINDOW) {
      for (let j = i; j < Math.min(N, i + WINDOW); j++) {
        pub.publish('', queue, Buffer.from(JSON.stringify([[PAYLOAD, j], {}, {}])), { persistent: true, contentType: 'application/json' });
      }
      await pub.waitForConfirms();
    }
    await conn.close();
  } else {
    const client = await connectClient({ logger: silentLogger });
    const task = benchTask(queue);
    for (let i = 0; i < N; i += WINDOW) {
      const batch: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(N, i + WINDOW); j++) batch.push(client.send(task, [PAYLOAD, j], {}, { ignoreResult: true }));
      await Promise.all(batch);
    }
    await client.close();
  }
  const rate = N / ((await sink.finished) - started) * 1000;
  sink.stop();
  await cleanup(queue);
  return rate;
}

async function cleanup(queue: string): Promise<void> {
  const conn = await amqp.connect(URL);
  const ch = await conn.createChannel();
  await ch.deleteQueue(queue);
  await ch.deleteQueue(`${queue}.dlq`);
  await ch.deleteExchange(queue);
  await conn.close();
}

function stats(samples: number[]): { p50: number; p99: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length / 2)]!, p99: s[Math.floor(s.length * 0.99)]!, mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function rawLatency(queue: string): Promise<number[]> {
  const conn = await amqp.connect(URL, { noDelay: true });
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, rawQueueOptions(queue));
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
  const task = benchTask(queue);
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
  await cleanup(queue);
  return samples;
}

// Alternate baseline and taskbus a few times and keep medians: one 2-core machine runs the broker too.
const TRIALS = Number(process.env['BENCH_TRIALS'] ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rates = { raw: [] as number[], taskbus: [] as number[] };
const lat = { raw: [] as ReturnType<typeof stats>[], taskbus: [] as ReturnType<typeof stats>[] };
for (let trial = 0; trial < TRIALS; trial++) {
  const tag = randomUUID().slice(0, 8);
  rates.raw.push(await throughput('raw', `bench-raw-${tag}`));
  rates.taskbus.push(await throughput('taskbus', `bench-taskbus-${tag}`));
  lat.raw.push(stats(await rawLatency(`bench-rawrpc-${tag}`)));
  lat.taskbus.push(stats(await taskbusLatency(`bench-taskbusrpc-${tag}`)));
}
const f = (n: number) => n.toFixed(2);
const rawRate = median(rates.raw);
const busRate = median(rates.taskbus);
const p50 = (xs: ReturnType<typeof stats>[]) => median(xs.map((x) => x.p50));
const p99 = (xs: ReturnType<typeof stats>[]) => median(xs.map((x) => x.p99));
console.log(`throughput, ${N} tasks of ~900 bytes, ${QUEUE_TYPE} queue, confirms + manual acks, publisher and consumer processes, end to end (median of ${TRIALS})`);
console.log(`  raw amqplib  ${Math.round(rawRate)} msgs/s   trials ${rates.raw.map(Math.round).join(', ')}`);
console.log(`  taskbus      ${Math.round(busRate)} tasks/s  trials ${rates.taskbus.map(Math.round).join(', ')}   ratio ${f(busRate / rawRate)}x (validation on)`);
console.log(`request/response, concurrency 1, ${ROUNDS} rounds per trial, confirmed persistent request (ms, median of ${TRIALS})`);
console.log(`  raw amqplib  p50 ${f(p50(lat.raw))}  p99 ${f(p99(lat.raw))}`);
console.log(`  taskbus      p50 ${f(p50(lat.taskbus))}  p99 ${f(p99(lat.taskbus))}   p50 ratio ${f(p50(lat.taskbus) / p50(lat.raw))}x`);
