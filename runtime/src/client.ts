import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { encodeTask } from './celery/encode.js';
import type { CallOptions } from './celery/message.js';
import { openConnection, type ConnectOptions } from './connection.js';
import { ClosedError, ContractValidationError, PublishError, describeCause } from './errors.js';
import { createStderrLogger, type Logger } from './logger.js';
import { ResultListener } from './results.js';
import type { TaskSpec } from './task.js';
import { declareCeleryQueue } from './topology.js';

/** What a call returns once the broker has confirmed it holds the task. */
export interface SentTask<R> {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  /**
   * Waits for the worker's reply (Python or TypeScript, Celery's rpc format) and checks it against the
   * contract. Rejects with RemoteTaskError when the task failed or was revoked, ResultTimeoutError when
   * no final reply came within `timeoutMs` (default 60 s). Not for tasks sent with `ignoreResult`.
   */
  result(options?: { readonly timeoutMs?: number }): Promise<R>;
}

export interface ClientOptions extends ConnectOptions {
  readonly logger?: Logger;
}

const DEFAULT_RESULT_TIMEOUT_MS = 60_000;

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

export async function connectClient(options: ClientOptions = {}): Promise<TaskClient> {
  const connection = await openConnection(options);
  const channel = await connection.createConfirmChannel();
  const replyTo = randomUUID();
  const results = await ResultListener.start(await connection.createChannel(), replyTo, options.logger ?? createStderrLogger('taskbus-client'));
  return new AmqpTaskClient(connection, channel, replyTo, results);
}

class AmqpTaskClient implements TaskClient {
  private readonly declared = new Map<string, Promise<void>>();
  /** Ids the broker returned as unroutable; their confirm arrives after the return. */
  private readonly returned = new Set<string>();
  private readonly origin = `gen${process.pid}@${hostname()}`;
  private closed = false;
  private closeReason: unknown = null;

  constructor(
    private readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
    /** This process's reply queue, sent as reply_to with every task, as Celery does. */
    private readonly replyTo: string,
    private readonly results: ResultListener,
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
    return {
      id,
      task: spec.name,
      queue,
      result: async ({ timeoutMs = DEFAULT_RESULT_TIMEOUT_MS } = {}) => {
        const value = await this.results.wait(id, spec.name, timeoutMs);
        const issues = spec.checkResult(value);
        if (issues.length > 0) throw new ContractValidationError(spec.name, issues, 'result');
        return value as R;
      },
    };
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
    this.results.close(new ClosedError('task client'));
    await this.channel.waitForConfirms().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}
