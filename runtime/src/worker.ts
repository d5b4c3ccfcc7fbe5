import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { decodeDelivery } from './celery/decode.js';
import type { TaskMessage } from './celery/message.js';
import { encodeResult, exceptionInfo, type TaskState } from './celery/result.js';
import { openConnection, type ConnectOptions } from './connection.js';
import { ContractValidationError, TaskbusError, describeCause } from './errors.js';
import { createStderrLogger, type Logger } from './logger.js';
import { bindArguments, type TaskSpec } from './task.js';
import { declareCeleryQueue } from './topology.js';

/** What a handler learns about the delivery it runs for. */
export interface TaskContext {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  readonly retries: number;
  /** True when the broker delivered this task before (a worker died holding it): make handlers idempotent. */
  readonly redelivered: boolean;
  readonly message: TaskMessage;
}

export type TaskHandler<A extends readonly unknown[], K extends object, R> = (
  args: A,
  kwargs: K,
  context: TaskContext,
) => R | Promise<R>;

export interface WorkerOptions extends ConnectOptions {
  /** Unacknowledged deliveries per queue, which is also how many handlers run at once (default 16). */
  readonly prefetch?: number;
  /** Queues to consume; defaults to the queues of the registered tasks. */
  readonly queues?: readonly string[];
  readonly logger?: Logger;
}

export interface Worker {
  register<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, handler: TaskHandler<A, K, R>): void;
  /** Connects, declares the queues and starts consuming. */
  start(): Promise<void>;
  /** Stops consuming, lets running handlers finish and ack, then closes. Safe to call twice. */
  stop(): Promise<void>;
  /** Settles when the worker stopped: resolves after stop(), rejects if the broker connection was lost. */
  readonly done: Promise<void>;
}

interface Registered {
  readonly spec: TaskSpec<readonly unknown[], object, unknown>;
  readonly handler: TaskHandler<readonly unknown[], object, unknown>;
}

export function createWorker(options: WorkerOptions = {}): Worker {
  return new AmqpWorker(options);
}

class AmqpWorker implements Worker {
  private readonly tasks = new Map<string, Registered>();
  private readonly log: Logger;
  private readonly inflight = new Set<Promise<void>>();
  /** ETA tasks held until their time; each entry gives its delivery back to the broker on stop. */
  private readonly waiting = new Map<NodeJS.Timeout, () => void>();
  private connection: ChannelModel | null = null;
  private channel: Channel | null = null;
  private consumerTags: string[] = [];
  private stopping: Promise<void> | null = null;
  private settle!: { resolve: () => void; reject: (e: unknown) => void };
  readonly done: Promise<void>;

  constructor(private readonly options: WorkerOptions) {
    this.log = options.logger ?? createStderrLogger('taskbus-worker');
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined);
  }

  register<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, handler: TaskHandler<A, K, R>): void {
    if (this.tasks.has(spec.name)) throw new TaskbusError('E_DUPLICATE_TASK', `task ${spec.name} is registered twice`);
    this.tasks.set(spec.name, { spec, handler } as unknown as Registered);
  }

  async start(): Promise<void> {
    const queues = this.options.queues ?? [...new Set([...this.tasks.values()].map((t) => t.spec.queue))].sort();
    if (queues.length === 0) throw new TaskbusError('E_NO_TASKS', 'worker has no tasks registered and no queues given');
    const connection = await openConnection(this.options);
    this.connection = connection;
    connection.on('error', (e: unknown) => this.log.error('broker connection error', { error: describeCause(e) }));
    connection.on('close', () => {
      if (!this.stopping) this.settle.reject(new TaskbusError('E_CONNECTION_LOST', 'broker connection closed unexpectedly'));
    });
    const channel = await connection.createChannel();
    this.channel = channel;
    await channel.prefetch(this.options.prefetch ?? 16);
    for (const queue of queues) {
      await declareCeleryQueue(channel, queue);
      const { consumerTag } = await channel.consume(queue, (msg) => msg && this.track(this.handle(queue, msg)), { noAck: false });
      this.consumerTags.push(consumerTag);
    }
    this.log.info('worker started', { queues: queues.join(','), tasks: [...this.tasks.keys()].sort().join(',') });
  }

  private track(work: Promise<void>): void {
    const tracked = work
      .catch((e: unknown) => this.log.error('delivery handling failed', { error: describeCause(e) }))
      .finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  private async handle(queue: string, msg: ConsumeMessage): Promise<void> {
    const decoded = decodeDelivery(msg);
    if (!decoded.ok) return this.refuse(msg, decoded.reason, decoded.detail);
    const m = decoded.message;
    const registered = this.tasks.get(m.task);
    if (!registered) {
      // As a Python worker does: not run, and a NotRegistered failure for a caller that waits.
      this.reply(m, 'FAILURE', exceptionInfo('NotRegistered', `'${m.task}'`, 'celery.exceptions'));
      return this.refuse(msg, 'unknown-task', `no handler for task ${m.task} on this worker`, m.id);
    }
    const call = bindArguments(registered.spec.argNames, m.args, m.kwargs);
    try {
      registered.spec.assertArgs(call.args, call.kwargs);
    } catch (e) {
      if (!(e instanceof ContractValidationError)) throw e;
      this.reply(m, 'FAILURE', exceptionInfo('TypeError', e.message));
      return this.refuse(msg, 'invalid-arguments', e.message, m.id);
    }
    if (m.expires && m.expires.getTime() <= Date.now()) {
      this.log.warn('task expired before it ran; discarded', { task: m.task, id: m.id, expires: m.expires.toISOString() });
      this.reply(m, 'REVOKED', exceptionInfo('TaskRevokedError', 'expired', 'celery.exceptions'));
      return this.channel?.ack(msg);
    }
    const delay = m.eta ? m.eta.getTime() - Date.now() : 0;
    if (delay > 0 && !(await this.hold(msg, delay))) return;
    await this.run(queue, msg, m, registered, call);
  }

  /** Waits out an ETA with the delivery unacked; false when the worker stopped first. */
  private hold(msg: ConsumeMessage, delay: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.waiting.delete(timer)), delay);
      this.waiting.set(timer, () => {
        clearTimeout(timer);
        this.channel?.nack(msg, false, true);
        resolve(false);
      });
    });
  }

  private async run(queue: string, msg: ConsumeMessage, m: TaskMessage, r: Registered, call: ReturnType<typeof bindArguments>): Promise<void> {
    const started = performance.now();
    const context: TaskContext = { id: m.id, task: m.task, queue, retries: m.retries, redelivered: msg.fields.redelivered, message: m };
    let result: unknown;
    try {
      result = await r.handler(call.args, call.kwargs, context);
    } catch (e) {
      // Retries and dead-lettering follow the contract's policy once that exists; until then the failure is
      // logged with the task id, reported to a waiting caller, and the message is rejected.
      this.log.error('task failed; rejected', { task: m.task, id: m.id, error: describeCause(e) });
      const error = e instanceof Error ? e : new Error(String(e));
      this.reply(m, 'FAILURE', exceptionInfo(error.name, error.message), error.stack ?? null);
      return this.channel?.nack(msg, false, false);
    }
    const issues = r.spec.checkResult(result);
    if (issues.length > 0) {
      const e = new ContractValidationError(m.task, issues, 'result');
      this.log.error('handler returned a result that breaks the contract', { task: m.task, id: m.id, error: e.message });
      this.reply(m, 'FAILURE', exceptionInfo('ContractValidationError', e.message));
    } else {
      this.reply(m, 'SUCCESS', result);
    }
    this.channel?.ack(msg);
    this.log.info('task succeeded', { task: m.task, id: m.id, ms: Math.round(performance.now() - started) });
  }

  /** Sends Celery's rpc reply to the caller's reply_to queue, unless it asked for no result. */
  private reply(m: TaskMessage, status: TaskState, result: unknown, traceback: string | null = null): void {
    if (!m.replyTo || m.ignoreResult || !this.channel) return;
    const r = encodeResult({ taskId: m.id, status, result, traceback });
    this.channel.publish('', m.replyTo, r.content, r.properties);
  }

  private refuse(msg: ConsumeMessage, reason: string, detail: string, id?: string): void {
    this.log.error('delivery refused, not run; rejected without requeue', {
      reason,
      detail,
      id: id ?? headerId(msg),
      deliveryTag: msg.fields.deliveryTag,
    });
    this.channel?.nack(msg, false, false);
  }

  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    const channel = this.channel;
    try {
      if (channel) for (const tag of this.consumerTags) await channel.cancel(tag);
      for (const giveBack of this.waiting.values()) giveBack();
      this.waiting.clear();
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      await channel?.close();
      await this.connection?.close();
      this.log.info('worker stopped');
      this.settle.resolve();
    } catch (e) {
      this.settle.reject(e);
      throw e;
    }
  }
}

/** The task id of a delivery that could not be decoded, as far as its headers tell. */
function headerId(msg: ConsumeMessage): string {
  const id: unknown = msg.properties.headers?.['id'] ?? msg.properties.correlationId;
  return typeof id === 'string' ? id : '';
}
