import { Type } from '@sinclair/typebox';
import { defineTask, QUEUE_TYPES, taskQueueArguments, type QueueType } from '@taskbus/runtime';

export const URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
export const PREFETCH = 100;
export const PAYLOAD = 'x'.repeat(900);

/** BENCH_QUEUE_TYPE=quorum measures both sides on quorum queues (declared alike), classic by default. */
export const QUEUE_TYPE = (process.env['BENCH_QUEUE_TYPE'] ?? 'classic') as QueueType;
if (!QUEUE_TYPES.includes(QUEUE_TYPE)) throw new Error(`BENCH_QUEUE_TYPE must be one of ${QUEUE_TYPES.join(', ')}`);

/** The raw baseline's declaration: the same queue taskbus creates. */
export const rawQueueOptions = (queue: string) => ({ durable: true, arguments: taskQueueArguments(queue, QUEUE_TYPE) });

export const benchTask = (queue: string) =>
  defineTask<[body: string, n: number], Record<string, never>, number>({ name: 'bench.echo', queue, queueType: QUEUE_TYPE, args: { body: Type.String(), n: Type.Integer() }, result: Type.Integer() });
