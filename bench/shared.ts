import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Type } from '@sinclair/typebox';
import { defineTask, QUEUE_TYPES, taskQueueArguments, type QueueType } from '@taskbus/runtime';

export const URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
export const PREFETCH = 100;
export const PAYLOAD = 'x'.repeat(900);

/** BENCH_QUEUE_TYPE=quorum measures both sides on quorum queues (declared alike), classic by default. */
export const QUEUE_TYPE = (process.env['BENCH_QUEUE_TYPE'] ?? 'classic') as QueueType;
if (!QUEUE_TYPES.includes(QUEUE_TYPE)) throw new Error(`BENCH_QUEUE_TYPE must be one of ${QUEUE_TYPES.join(', ')}`);

/**
 * What publishes and what consumes: raw amqplib with a plain JSON body, raw amqplib with the Celery
 * message taskbus sends (built by hand here, so taskbus's own encoder never speeds up the baseline), taskbus.
 */
export const MODES = ['raw-plain', 'raw-celery', 'taskbus'] as const;
export type Mode = (typeof MODES)[number];

/** The raw baseline's declaration: the same queue taskbus creates. */
export const rawQueueOptions = (queue: string) => ({ durable: true, arguments: taskQueueArguments(queue, QUEUE_TYPE) });

export const benchTask = (queue: string) =>
  defineTask<[body: string, n: number], Record<string, never>, number>({ name: 'bench.echo', queue, queueType: QUEUE_TYPE, args: { body: Type.String(), n: Type.Integer() }, result: Type.Integer() });

/** Now in microseconds since the epoch, comparable between processes on one machine (latency stamps). */
export const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

const ORIGIN = `gen${process.pid}@${hostname()}`;
const long = (value: number) => ({ '!': 'long', value });

/** The Celery protocol v2 message taskbus sends for bench.echo(body, n), as a hand-written amqplib publish. */
export function celeryMessage(n: number, replyTo: string): { content: Buffer; options: Record<string, unknown> } {
  const id = randomUUID();
  const argsrepr = JSON.stringify([PAYLOAD, n]);
  return {
    content: Buffer.from(`[${argsrepr},{},{"callbacks":null,"errbacks":null,"chain":null,"chord":null}]`),
    options: {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: id,
      replyTo,
      persistent: true,
      mandatory: true,
      headers: {
        lang: 'py', task: 'bench.echo', id, shadow: null, eta: null, expires: null, group: null, group_index: null,
        retries: long(0), timelimit: [null, null], root_id: id, parent_id: null,
        argsrepr: argsrepr.length <= 256 ? argsrepr : argsrepr.slice(0, 253) + '...', kwargsrepr: '{}', origin: ORIGIN, ignore_result: true,
      },
    },
  };
}

/** A plain message: the JSON body only, no headers. */
export const plainMessage = (n: number) => ({ content: Buffer.from(JSON.stringify([[PAYLOAD, n], {}, {}])), options: { persistent: true, contentType: 'application/json' } });

export const replyQueueName = () => randomUUID();

/** CPU time since `since`, in microseconds. */
export function cpuSince(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return d.user + d.system;
}
