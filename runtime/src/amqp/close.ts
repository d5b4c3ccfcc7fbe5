import type { Channel, ChannelModel } from 'amqplib';
import { settlesWithin } from '../clock.js';
import { dropConnection } from '../connection.js';

/** How long a closing handshake may take before the connection is dropped. */
export const CLOSE_GRACE_MS = 5_000;

/**
 * amqplib's close() settles only on the broker's close-ok: when the connection dies between the close and its
 * close-ok, it never settles, and whatever awaited it (a worker's set-up after a reconnect) would wait for
 * ever. The 'close' event comes either way, so both settle on whichever is first. Neither rejects: a channel
 * or connection that was closed already is closed.
 */
function closed(emitter: Channel | ChannelModel, close: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    emitter.once('close', () => resolve());
    close().then(
      () => resolve(),
      () => resolve(),
    );
  });
}

export function closeChannel(channel: Channel): Promise<void> {
  return closed(channel, () => channel.close());
}

/**
 * Closes a connection; one whose broker does not answer within `graceMs` (it stopped reading: blocked by a
 * resource alarm, hung) is dropped, or the socket and heartbeat timers would keep the process alive.
 */
export async function closeConnection(connection: ChannelModel, graceMs = CLOSE_GRACE_MS): Promise<void> {
  if (!(await settlesWithin(closed(connection, () => connection.close()), graceMs))) dropConnection(connection);
}
