// The publishing side of the benches, in a process of its own:
//   publisher.ts <mode> <queue> <count> <rate per s, 0 = as fast as confirms allow> [stamp]
// Prints "ready" once connected, starts on a "go" line on stdin, and prints one JSON line when the broker
// has confirmed every message: start and end (epoch ms) and CPU used meanwhile (us). With `stamp` each
// task's number is its send time in us, for the consumer's latency.
import { createInterface } from 'node:readline';
import amqp from 'amqplib';
import { connectClient, silentLogger } from '@taskbus/runtime';
import { benchTask, celeryMessage, cpuSince, MODES, nowUs, PAYLOAD, plainMessage, rawQueueOptions, replyQueueName, URL, type Mode } from './shared.js';

const [mode, queue, countArg, rateArg, flag] = process.argv.slice(2) as [Mode, string, string, string, string | undefined];
if (!MODES.includes(mode)) throw new Error(`mode must be one of ${MODES.join(', ')}`);
const count = Number(countArg);
const rate = Number(rateArg);
const stamp = flag === 'stamp';
/** Confirms awaited per window when publishing flat out, as a batch job would. */
const WINDOW = 1000;

/** Sends one message; resolves when the broker confirmed it. */
type Send = (n: number) => Promise<unknown>;

async function connect(): Promise<{ send: Send; close: () => Promise<void> }> {
  if (mode === 'taskbus') {
    const client = await connectClient({ logger: silentLogger });
    const task = benchTask(queue);
    return { send: (n) => client.send(task, [PAYLOAD, n], {}, { ignoreResult: true }), close: () => client.close() };
  }
  const conn = await amqp.connect(URL, { noDelay: true });
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, rawQueueOptions(queue));
  const replyTo = replyQueueName();
  return {
    send: (n) => {
      const m = mode === 'raw-celery' ? celeryMessage(n, replyTo) : plainMessage(n);
      return new Promise<void>((resolve, reject) => ch.publish('', queue, m.content, m.options, (err) => (err ? reject(err) : resolve())));
    },
    close: () => conn.close(),
  };
}

const { send, close } = await connect();
process.stdout.write('ready\n');
await new Promise<void>((go) => createInterface({ input: process.stdin }).once('line', () => go()));
const startAt = Date.now();
const cpu = process.cpuUsage();
const number = (i: number) => (stamp ? nowUs() : i);
if (rate === 0) {
  for (let i = 0; i < count; i += WINDOW) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(count, i + WINDOW); j++) batch.push(send(number(j)));
    await Promise.all(batch);
  }
} else {
  // A steady offered rate: every millisecond, send what the schedule says is due by now.
  const sent: Promise<unknown>[] = [];
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const due = Math.min(count, Math.floor(((Date.now() - startAt) * rate) / 1000));
      while (sent.length < due) sent.push(send(number(sent.length)));
      if (sent.length === count) {
        clearInterval(timer);
        done();
      }
    }, 1);
  });
  await Promise.all(sent);
}
const result = { startAt, endAt: Date.now(), cpuUs: cpuSince(cpu) };
await close();
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);
