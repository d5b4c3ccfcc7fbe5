import { Type } from '@sinclair/typebox';
import { defineTask, type QueueType } from '@taskbus/runtime';

/** The task every fault case sends: a sequence number, no result. */
export const faultTask = (queue: string, queueType: QueueType = 'classic') =>
  defineTask<[n: number], Record<string, never>, null>({ name: 'fault.job', queue, queueType, args: { n: Type.Integer() }, result: Type.Null() });
