// Compiled by `npm run typecheck`, never run: asserts what the generated bindings accept and refuse.
import type { SentTask } from '@taskbus/runtime';
import type { PusherClient, PusherHandlers, SendToS3V2Result } from 'pusher-bindings';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | void {}

declare const pusher: PusherClient;

export async function calls(): Promise<void> {
  await pusher.sendToS3('key', 'content');
  await pusher.sendToS3('key', 'content', { queue: 'other', taskId: 'id-1' });
  await pusher.sendToS3V2('key', 'content', { contentType: 'text/plain', tags: { a: 'b' } });
  await pusher.delegateSendToS3(1, 'key', 'content');
  await pusher.delegateSendToS3(2, 'key', 'content', {}, { countdown: 5 });

  // @ts-expect-error calling v2 with v1's arguments: meta is required
  await pusher.sendToS3V2('key', 'content');
  // @ts-expect-error the delegate demands v2's arguments for version 2
  await pusher.delegateSendToS3(2, 'key', 'content');
  // @ts-expect-error v1 has no meta argument (a third argument must be call options)
  await pusher.delegateSendToS3(1, 'key', 'content', { tags: { a: 'b' } });
  // @ts-expect-error there is no version 3
  await pusher.delegateSendToS3(3, 'key', 'content');
  // @ts-expect-error key must be a string
  await pusher.sendToS3(42, 'content');
  // @ts-expect-error tags are string to string
  await pusher.sendToS3V2('key', 'content', { tags: { a: 1 } });

  const sent = await pusher.delegateSendToS3(2, 'key', 'content', {});
  assertType<Equal<typeof sent, SentTask<SendToS3V2Result>>>();
  assertType<Equal<SendToS3V2Result, { bucket: string; key: string; etag: string }>>();
}

export const handlers: PusherHandlers = {
  sendToS3: (key, content, context) => ({ bucket: 'b', key: `${key}${content.length}${context.id}`, etag: '' }),
  sendToS3V2: async (key, _content, meta) => ({ bucket: 'b', key: key + (meta.contentType ?? ''), etag: '' }),
};

export const incomplete: PusherHandlers = {
  sendToS3: () => ({ bucket: 'b', key: 'k', etag: '' }),
  // @ts-expect-error a handler must return the contract's result
  sendToS3V2: () => ({ bucket: 'b' }),
};

/** The context a generated handler gets carries the soft-time-limit signal. */
type HandlerContext = Parameters<PusherHandlers['sendToS3']> extends [...unknown[], infer C] ? C : never;
assertType<Equal<HandlerContext extends { readonly signal: AbortSignal } ? true : false, true>>();
export const honoursSignal: PusherHandlers['sendToS3'] = (key, _content, context) => {
  context.signal.throwIfAborted();
  return { bucket: 'b', key, etag: '' };
};
