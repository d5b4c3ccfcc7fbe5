// The consuming side of the benches, in a process of its own:
//   consumer.ts <mode> <queue> [latency]
// Prints "ready" once consuming. On each "report" line on stdin it prints one JSON line: deliveries seen,
// when the last one was handled, CPU used since ready (us), RSS, and with `latency` the p50/p99 of
// (handled - sent) where the task's number is its send time in us. Every 100,000 deliveries it prints
// a memory JSON line (the soak reads them).
import { createInterface } from 'node:readline';
import amqp from 'amqplib';
import { createWorker, silentLogger } from '@taskbus/runtime';
import { benchTask, cpuSince, MODES, nowUs, PREFETCH, rawQueueOptions, URL, type Mode } from './shared.js';
import { percentiles } from './stats.js';

const [mode, queue, flag] = process.argv.slice(2) as [Mode, string, string | undefined];
if (!MODES.includes(mode)) throw new Error(`mode must be one of ${MODES.join(', ')}`);
const latency = flag === 'latency';
const samples: number[] = [];
let seen = 0;
let lastAt = 0;
let cpu: NodeJS.CpuUsage;

function handled(n: number): void {
  seen++;
  lastAt = Date.now();
  if (latency) samples.push(nowUs() - n);
  if (seen % 100_000 === 0) sampleMemory();
}

/** RSS as the OS sees it, and the live heap after a full collection (flow.ts starts consumers with --expose-gc). */
function sampleMemory(): void {
  const { rss } = process.memoryUsage();
  (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, external } = process.memoryUsage();
  process.stdout.write(JSON.stringify({ rss, heapUsed, external, seen }) + '\n');
}

if (mode === 'taskbus') {
  const worker = createWorker({ logger: silentLogger, prefetch: PREFETCH });
  worker.register(benchTask(queue), ([, n]) => {
    handled(n);
    return n;
  });
  await worker.start();
} else {
  const conn = await amqp.connect(URL, { noDelay: true });
  const ch = await conn.createChannel();
  await ch.assertQueue(queue, rawQueueOptions(queue));
  await ch.prefetch(PREFETCH);
  await ch.consume(queue, (m) => {
    if (!m) return;
    // The least a consumer does: read the body; a Celery consumer also looks at its task header.
    const [args] = JSON.parse(m.content.toString('utf8')) as [[string, number]];
    if (mode === 'raw-celery' && m.properties.headers?.['task'] !== 'bench.echo') throw new Error('not a bench.echo task');
    ch.ack(m);
    handled(args[1]);
  });
}
cpu = process.cpuUsage();
process.stdout.write('ready\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'report') return;
  const report = { seen, lastAt, cpuUs: cpuSince(cpu), rss: process.memoryUsage().rss, ...(latency ? percentiles(samples) : {}) };
  process.stdout.write(JSON.stringify(report) + '\n');
});
process.once('SIGTERM', () => process.exit(0));
