import type { Channel, ChannelModel } from 'amqplib';
import { closeChannel } from '../amqp/close.js';

/**
 * Runs declarations on throwaway channels of one connection, each at most once while it succeeds. A
 * refused declaration (404, 406) closes its channel: on a channel of its own it closes nothing that
 * carries work, and it is not remembered, so the next use tries again.
 */
export class Declarer {
  private readonly done = new Map<string, Promise<unknown>>();

  constructor(private readonly connection: ChannelModel) {}

  /** `key` names what is declared; the same key shares one declaration until `forget(key)`. */
  once<T>(key: string, declare: (open: OpenChannel) => Promise<T>): Promise<T> {
    let done = this.done.get(key) as Promise<T> | undefined;
    if (!done) {
      done = declare(() => this.channel());
      this.done.set(key, done);
      done.catch(() => {
        if (this.done.get(key) === done) this.done.delete(key);
      });
    }
    return done;
  }

  /** The thing was deleted since: the next use declares it again. */
  forget(key: string): void {
    this.done.delete(key);
  }

  private async channel(): Promise<Channel> {
    const channel = await this.connection.createChannel();
    channel.on('error', () => undefined); // the rejected operation reports why
    return channel;
  }
}

/** Opens a fresh channel; the caller closes it (a refusal closes it by itself). */
export type OpenChannel = () => Promise<Channel>;

/** Runs `use` on a fresh channel and closes it after. */
export async function onChannel<T>(open: OpenChannel, use: (channel: Channel) => Promise<T>): Promise<T> {
  const channel = await open();
  try {
    return await use(channel);
  } finally {
    await closeChannel(channel);
  }
}

/** The AMQP reply code of a refused operation (404 not found, 406 precondition failed, 403 access refused). */
export function replyCode(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
