// A worker process for the fault suite: records every task it handles (one id per line, written before
// the ack) so the suite can count lost and duplicated deliveries after kills and broker faults.
import { appendFileSync } from 'node:fs';
import { createStderrLogger, createWorker, QUEUE_TYPES, type Logger } from '@taskbus/runtime';
import { faultTask } from './task.js';

const queue = process.env['FAULT_QUEUE']!;
const out = process.env['FAULT_OUT']!;
const queueType = QUEUE_TYPES.find((t) => t === process.env['FAULT_QUEUE_TYPE']) ?? 'classic';
// FAULT_LOG_LEVEL=info: connection events too, without a line per task.
const stderrLog = createStderrLogger('fault-worker', process.env['FAULT_LOG_LEVEL'] === 'info' ? 'info' : 'warn');
const logger: Logger = { ...stderrLog, info: (message, fields) => (message === 'task succeeded' ? undefined : stderrLog.info(message, fields)) };
const worker = createWorker({
  queues: [queue],
  prefetch: Number(process.env['FAULT_PREFETCH'] ?? 50),
  heartbeat: Number(process.env['FAULT_HEARTBEAT'] ?? 15),
  reconnect: { initialMs: 100, maxMs: 2000 },
  queueType,
  logger,
});
worker.register(faultTask(queue, queueType), async (_args, _kwargs, ctx) => {
  await new Promise((r) => setImmediate(r));
  appendFileSync(out, `${ctx.id}\n`);
  return null;
});
await worker.start();
process.stdout.write('started\n');
await new Promise<void>((resolve) => {
  process.once('SIGTERM', resolve);
  process.once('SIGINT', resolve);
});
await worker.stop();
