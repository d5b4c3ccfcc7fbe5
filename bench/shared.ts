import { Type } from '@sinclair/typebox';
import { defineTask } from '@taskbus/runtime';

export const URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
export const PREFETCH = 100;
export const PAYLOAD = 'x'.repeat(900);

export const benchTask = (queue: string) =>
  defineTask<[body: string, n: number], Record<string, never>, number>({ name: 'bench.echo', queue, args: { body: Type.String(), n: Type.Integer() }, result: Type.Integer() });
