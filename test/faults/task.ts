import { Type } from '@sinclair/typebox';
import { defineTask } from '@taskbus/runtime';

/** The task every fault case sends: a sequence number, no result. */
export const faultTask = (queue: string) =>
  defineTask<[n: number], Record<string, never>, null>({ name: 'fault.job', queue, args: { n: Type.Integer() }, result: Type.Null() });
