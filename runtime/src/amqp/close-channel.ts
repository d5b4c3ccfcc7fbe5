import type { Channel } from 'amqplib';

/**
 * Closes a channel and settles once it is closed, however that happens. amqplib's close() settles only on
 * the broker's close-ok: when the connection dies between the close and its close-ok, it never settles,
 * and whatever awaited it (a worker's set-up after a reconnect) would wait for ever. The channel's 'close'
 * event comes either way. Never rejects: a channel that was closed already is closed.
 */
export function closeChannel(channel: Channel): Promise<void> {
  return new Promise((resolve) => {
    channel.once('close', () => resolve());
    channel.close().then(
      () => resolve(),
      () => resolve(),
    );
  });
}
