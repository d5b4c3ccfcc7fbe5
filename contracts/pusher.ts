import { Type } from '@sinclair/typebox';

/** Where a backup landed. */
const StoredObject = Type.Object({
  bucket: Type.String(),
  key: Type.String(),
  etag: Type.String(),
});

export default {
  service: 'pusher',
  // The npm name callers install; may be scoped, e.g. '@acme/pusher-bindings'.
  package: 'pusher-bindings',
  license: 'MIT',
  version: '1.0.0',
  description: 'Backs serialised models up to S3.',
  queue: 'pusher',
  tasks: {
    sendToS3: {
      description: 'Store `content` under `key` in the backup bucket.',
      // S3 hiccups are worth retrying: 1 s, 2 s, 4 s, 8 s, then the dead-letter queue.
      retry: { maxAttempts: 5, initialDelayMs: 1000, maxDelayMs: 60000 },
      versions: {
        1: {
          name: 'pusher.send_to_s3',
          args: { key: Type.String({ minLength: 1 }), content: Type.String() },
          result: StoredObject,
        },
        2: {
          name: 'pusher.send_to_s3_v2',
          description: 'As v1, plus the object content type and tags.',
          args: {
            key: Type.String({ minLength: 1 }),
            content: Type.String(),
            meta: Type.Object({
              contentType: Type.Optional(Type.String()),
              tags: Type.Optional(Type.Record(Type.String(), Type.String())),
            }),
          },
          result: StoredObject,
        },
      },
    },
  },
};
