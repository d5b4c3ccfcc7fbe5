import { Type } from '@sinclair/typebox';

// Exercises quorum queues: the service's queue and a per-version one, kwargs, and a deprecated version.
export default {
  service: 'ledger',
  version: '1.2.0',
  queue: 'ledger',
  queueType: 'quorum',
  tasks: {
    record: {
      description: 'Record one entry.',
      versions: {
        1: {
          name: 'ledger.record',
          args: { account: Type.String({ minLength: 1 }), cents: Type.Integer() },
          kwargs: Type.Object({ memo: Type.Optional(Type.String()) }),
          result: Type.Object({ id: Type.String() }),
          deprecated: 'use v2',
        },
        2: {
          name: 'ledger.record_v2',
          args: { account: Type.String({ minLength: 1 }), cents: Type.Integer(), currency: Type.String() },
          result: Type.Object({ id: Type.String() }),
        },
      },
    },
    reconcile: {
      versions: {
        1: { name: 'ledger.reconcile', queue: 'ledger.batch', args: { day: Type.String() }, result: Type.Integer() },
      },
    },
  },
};
