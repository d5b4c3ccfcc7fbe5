import { Type } from '@sinclair/typebox';

// Exercises kwargs, a per-version queue, a retry policy, a deprecated version, several tasks and a hyphenated service name.
export default {
  service: 'image-resizer',
  version: '2.1.0',
  queue: 'images',
  tasks: {
    resize: {
      versions: {
        1: {
          name: 'images.resize',
          args: { url: Type.String(), width: Type.Integer({ minimum: 1 }) },
          kwargs: Type.Object({ quality: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) }),
          result: Type.Object({ url: Type.String() }),
        },
      },
    },
    purge: {
      description: 'Drop cached renditions.',
      versions: {
        1: { name: 'images.purge', queue: 'images.low', args: {}, result: Type.Null(), deprecated: 'use v2, which takes a prefix' },
        2: { name: 'images.purge_v2', queue: 'images.low', args: { prefix: Type.String() }, result: Type.Integer(), retry: { maxAttempts: 3 } },
      },
    },
  },
};
