import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { encodeTask } from './celery/encode.js';
import type { CallOptions } from './celery/message.js';
import { openConnection, type ConnectOptions } from './connection.js';
import { ClosedError, PublishError, describeCause } from './errors.js';
import type { TaskSpec } from './task.js';
import { declareCeleryQueue } from './topology.js';

/** What a call returns once the broker has confirmed it holds the task. */
export interface SentTask<R> {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  /** Phantom field carrying the result type; always undefined at run time. */
  readonly resultType?: R;
}

/** Publishes tasks. Each call settles when the broker confirms the message is stored. */
export interface TaskClient {
  send<A extends readonly unknown[], K extends object, R>(
    spec: TaskSpec<A, K, R>,
    args: A,
    kwargs: K,
    options?: CallOptions,
  ): Promise<SentTask<R>>;
  close(): Promise<void>;
}

export async function connectClient(options: ConnectOptions = {}): Promise<TaskClient> {
  const connection = await openConnection(options);
  const channel = await connection.createConfirmChannel();
  return new AmqpTaskClient(connection, channel);
}

class AmqpTaskClient implements TaskClient {
  private readonly declared = new Map<string, Promise<void>>();
  /** Ids the broker returned as unroutable; their confirm arrives after the return. */
  private readonly returned = new Set<string>();
  private readonly replyTo = randomUUID();
  private readonly origin = `gen${process.pid}@${hostname()}`;
  private closed = false;
  private closeReason: unknown = null;

  constructor(
    private readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
  ) {
    channel.on('return', (msg: ConsumeMessage) => {
      const id = msg.properties.correlationId as string | undefined;
      if (id) this.returned.add(id);
    });
    const onGone = (err?: unknown) => {
      this.closed = true;
      this.closeReason = err ?? this.closeReason;
    };
    channel.on('error', onGone);
    channel.on('close', () => onGone());
    connection.on('error', onGone);
  }

  async send<A extends readonly unknown[], K extends object, R>(
    spec: TaskSpec<A, K, R>,
    args: A,
    kwargs: K,
    options: CallOptions = {},
  ): Promise<SentTask<R>> {
    spec.assertArgs(args, kwargs);
    if (this.closed) throw new ClosedError('task client' + (this.closeReason ? ` (${describeCause(this.closeReason)})` : ''));
    const queue = options.queue ?? spec.queue;
    const id = options.taskId ?? randomUUID();
    const encoded = encodeTask({
      id,
      task: spec.name,
      args,
      kwargs: kwargs as Record<string, unknown>,
      replyTo: this.replyTo,
      origin: this.origin,
      options,
    });
    await this.declare(queue);
    await new Promise<void>((resolve, reject) => {
      this.channel.publish('', queue, encoded.content, { ...encoded.properties, mandatory: true }, (err) => {
        if (this.returned.delete(id)) reject(new PublishError(id, `no queue "${queue}" to route to`));
        else if (err) reject(new PublishError(id, describeCause(err), err));
        else resolve();
      });
    });
    return { id, task: spec.name, queue };
  }

  private declare(queue: string): Promise<void> {
    let done = this.declared.get(queue);
    if (!done) {
      done = declareCeleryQueue(this.channel, queue);
      done.catch(() => this.declared.delete(queue));
      this.declared.set(queue, done);
    }
    return done;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.channel.waitForConfirms().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}
