// The consuming side of the throughput bench, in its own process: `raw` (amqplib, manual acks) or
// `taskbus` (a worker, arguments validated). Prints "ready", then "done <epoch ms>" after N deliveries.
import { createWorker, silentLogger } from '@taskbus/runtime';
import amqp from 'amqplib';
import { benchTask, PREFETCH, rawQueueOptions, URL } from './shared.js';

const [mode, queue, count] = process.argv.slice(2) as [string, string, string];
const n = Number(count);
let seen = 0;
const finish = () => process.stdout.write(`done ${Date.now()}\n`);

if (mode === 'raw') {
  const conn = await amqp.connect(URL, { noDelay: true });
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, rawQueueOptions(queue));
  await ch.prefetch(PREFETCH);
  await ch.consume(queue, (m) => {
    if (!m) return;
    JSON.parse(m.content.toString('utf8'));
    ch.ack(m);
    if (++seen === n) finish();
  });
} else {
  const worker = createWorker({ logger: silentLogger, prefetch: PREFETCH });
  worker.register(benchTask(queue), ([, i]) => {
    if (++seen === n) finish();
    return i;
  });
  await worker.start();
}
process.stdout.write('ready\n');
process.once('SIGTERM', () => process.exit(0));
