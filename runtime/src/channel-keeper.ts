import type { Channel, ChannelModel } from 'amqplib';
import { closeChannel } from './amqp/close.js';
import { describeCause, SetupInterruptedError } from './errors.js';
import type { Logger } from './logger.js';
import type { BackoffOptions } from './connect-options.js';
import { backoffDelay, STABLE_MS } from './reconnect.js';


export interface KeeperOptions<C extends Channel> {
  /** For logs: `worker consume channel`, `client reply channel`, ... */
  readonly name: string;
  readonly create: (connection: ChannelModel) => Promise<C>;
  /** Prefetch, topology and consumers: runs on the first open and again on every reopen. */
  readonly setup: (channel: C) => Promise<void>;
  /** The channel is set up and current (first open and every reopen): resume what waited for it. */
  readonly onOpened?: (channel: C) => void;
  /** The channel is gone (by the broker or with the connection): whatever was tied to it must be let go. */
  readonly onClosed?: (channel: C) => void;
  readonly log: Logger;
  readonly backoff?: BackoffOptions;
}

/**
 * Keeps one channel open on a live connection. The broker may close a channel alone (a 406 on a declare,
 * consumer_timeout, an unknown delivery tag): it is reopened with backoff and its set-up replayed, while a
 * connection loss is left to the Reconnector, which builds new keepers on the new connection. A channel
 * that keeps dying right after opening backs off like a failed open, so nothing loops hot.
 */
export class ChannelKeeper<C extends Channel> {
  private channel: C | null = null;
  private stopped = false;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  /**
   * Channels whose 'close' came. A set-up may finish without an error on a channel closed under it (a step
   * that only logs its failure, a consume skipped on a closed generation): it must not be taken for open.
   */
  private readonly closed = new WeakSet<C>();

  constructor(
    private readonly connection: ChannelModel,
    private readonly o: KeeperOptions<C>,
  ) {
    connection.once('close', () => this.stop());
  }

  /** The open channel, or null while it is being reopened (or after stop). */
  get current(): C | null {
    return this.channel;
  }

  /** First open: failures propagate, so a connection's set-up fails as a whole. */
  async open(): Promise<C> {
    const channel = await this.o.create(this.connection);
    this.watch(channel);
    await this.o.setup(channel);
    if (this.closed.has(channel)) throw new SetupInterruptedError(this.o.name, 'the broker closed it meanwhile');
    this.channel = channel;
    this.o.onOpened?.(channel);
    return channel;
  }

  /** No more reopening; returns the open channel, if any, for its owner to close. */
  stop(): C | null {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return this.channel;
  }

  private watch(channel: C): void {
    const openedAt = Date.now();
    channel.on('error', (e: unknown) => {
      const code = (e as { code?: unknown }).code;
      this.o.log.warn(`${this.o.name} closed by the broker`, { code: typeof code === 'number' ? code : '', error: describeCause(e) });
    });
    channel.on('close', () => {
      this.closed.add(channel);
      if (this.channel === channel) this.channel = null;
      this.o.onClosed?.(channel);
      if (Date.now() - openedAt >= STABLE_MS) this.failures = 0;
      else this.failures++;
      // amqplib closes channels before it reports the connection closed: decide after both have run.
      setImmediate(() => this.schedule());
    });
  }

  private schedule(): void {
    if (this.stopped || this.timer || this.channel) return;
    const delay = backoffDelay(this.failures, this.o.backoff);
    this.timer = setTimeout(() => void this.reopen(), delay);
  }

  private async reopen(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    let channel: C | null = null;
    try {
      channel = await this.o.create(this.connection);
      this.watch(channel);
      await this.o.setup(channel);
    } catch (e) {
      if (this.stopped) return;
      this.o.log.error(`${this.o.name} could not be reopened; retrying`, { attempt: this.failures + 1, error: describeCause(e) });
      // A half-configured channel is closed, and its close schedules the next try (counted there).
      if (channel) await closeChannel(channel);
      else {
        this.failures++;
        this.schedule();
      }
      return;
    }
    if (this.stopped) {
      await closeChannel(channel);
      return;
    }
    // Closed under a set-up that still finished: its close found no channel and scheduled the next try.
    if (this.closed.has(channel)) return;
    this.channel = channel;
    this.o.log.info(`${this.o.name} reopened`);
    this.o.onOpened?.(channel);
  }
}

/** A keeper of a plain channel (no confirms), as the reading sides use: reply queues, the control mailbox. */
export function plainChannelKeeper(
  connection: ChannelModel,
  o: Omit<KeeperOptions<Channel>, 'create' | 'backoff'> & { readonly backoff?: BackoffOptions | undefined },
): ChannelKeeper<Channel> {
  const { backoff, ...rest } = o;
  return new ChannelKeeper<Channel>(connection, { ...rest, create: (c) => c.createChannel(), ...(backoff ? { backoff } : {}) });
}
