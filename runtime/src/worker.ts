import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { decodeDelivery, type RejectReason } from './celery/decode.js';
import type { TaskMessage } from './celery/message.js';
import { encodeResult, exceptionInfo, type TaskState } from './celery/result.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './client.js';
import { deadLetterProperties, dlqName, republishProperties } from './deadletter.js';
import { ContractValidationError, TaskbusError, describeCause } from './errors.js';
import { createStderrLogger, type Logger } from './logger.js';
import { Reconnector, type ReconnectOptions } from './reconnect.js';
import { bindArguments, retryDelayMs, type TaskSpec } from './task.js';
import { declareCeleryQueue, declareDeadLetterQueue, declareDelayQueue } from './topology.js';

/** What a handler learns about the delivery it runs for. */
export interface TaskContext {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  /** Failed attempts before this one. */
  readonly retries: number;
  /** True when the broker delivered this task before (a worker died holding it): make handlers idempotent. */
  readonly redelivered: boolean;
  readonly message: TaskMessage;
}

export type TaskHandler<A extends readonly unknown[], K extends object, R> = (args: A, kwargs: K, context: TaskContext) => R | Promise<R>;

export interface WorkerOptions extends ReconnectOptions {
  /** Unacknowledged deliveries per queue, which is also how many handlers run at once (default 16). */
  readonly prefetch?: number;
  /** Queues to consume; defaults to the queues of the registered tasks. */
  readonly queues?: readonly string[];
  /** Largest body accepted (default 16 MiB); bigger deliveries go to the dead-letter queue unread. */
  readonly maxPayloadBytes?: number;
  /** ETA tasks due within this time are held unacked; later ones wait in delay queues (default 10 minutes). */
  readonly maxHoldMs?: number;
  /** How long stop() waits for running handlers before closing anyway (default 30 s); their tasks are redelivered. */
  readonly stopTimeoutMs?: number;
  readonly logger?: Logger;
}

export interface Worker {
  register<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, handler: TaskHandler<A, K, R>): void;
  /** Connects, declares the queues and starts consuming; later connection losses are recovered by themselves. */
  start(): Promise<void>;
  /** Stops consuming, lets running handlers finish and ack, then closes. Safe to call twice. */
  stop(): Promise<void>;
  /** Settles when the worker stopped: resolves after stop(), rejects if it cannot reconnect (e.g. login refused). */
  readonly done: Promise<void>;
}

interface Registered {
  readonly spec: TaskSpec<readonly unknown[], object, unknown>;
  readonly handler: TaskHandler<readonly unknown[], object, unknown>;
}

/** The channels of one connection; deliveries are acked on the channel they came from, or not at all. */
interface Session {
  readonly consume: Channel;
  readonly publish: ConfirmChannel;
  readonly declared: Map<string, Promise<unknown>>;
  readonly consumerTags: string[];
  open: boolean;
}

/** Why a delivery went to the dead-letter queue: it could not be decoded, or could not (or did not) run. */
export type DeadLetterReason = RejectReason | 'oversized' | 'unknown-task' | 'invalid-arguments' | 'failed';

const DEFAULT_MAX_HOLD_MS = 10 * 60_000;

export function createWorker(options: WorkerOptions = {}): Worker {
  return new AmqpWorker(options);
}

class AmqpWorker implements Worker {
  private readonly tasks = new Map<string, Registered>();
  private readonly log: Logger;
  private readonly inflight = new Set<Promise<void>>();
  /** ETA tasks held until their time; each entry gives its delivery back to the broker. */
  private readonly waiting = new Map<NodeJS.Timeout, () => void>();
  private reconnector: Reconnector | null = null;
  private session: Session | null = null;
  private queues: readonly string[] = [];
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
    this.queues = this.options.queues ?? [...new Set([...this.tasks.values()].map((t) => t.spec.queue))].sort();
    if (this.queues.length === 0) throw new TaskbusError('E_NO_TASKS', 'worker has no tasks registered and no queues given');
    this.reconnector = new Reconnector(
      { connectionName: `taskbus worker ${this.queues.join(',')}`, ...this.options },
      this.log,
      (c) => this.setup(c),
      () => this.lost(),
      (e) => {
        this.settle.reject(e);
        void this.stop();
      },
    );
    await this.reconnector.start();
    this.log.info('worker started', { queues: this.queues.join(','), tasks: [...this.tasks.keys()].sort().join(',') });
  }

  /** Runs on every (re)connection: channels, topology and consumers. */
  private async setup(connection: ChannelModel): Promise<void> {
    const consume = await connection.createChannel();
    const publish = await connection.createConfirmChannel();
    const session: Session = { consume, publish, declared: new Map(), consumerTags: [], open: true };
    for (const ch of [consume, publish]) {
      ch.on('error', (e: unknown) => this.log.warn('channel error', { error: describeCause(e) }));
      ch.on('close', () => (session.open = false));
    }
    await consume.prefetch(this.options.prefetch ?? 16);
    for (const queue of this.queues) {
      await declareCeleryQueue(consume, queue);
      await this.declareOnce(session, `dlq:${queue}`, () => declareDeadLetterQueue(publish, queue));
    }
    this.session = session;
    for (const queue of this.queues) {
      const { consumerTag } = await consume.consume(queue, (msg) => msg && this.track(this.handle(session, queue, msg)), { noAck: false });
      session.consumerTags.push(consumerTag);
    }
  }

  private lost(): void {
    if (this.session) this.session.open = false;
    this.session = null;
    // Held ETA deliveries return to the queue with the connection; forget them here.
    for (const giveBack of this.waiting.values()) giveBack();
    this.waiting.clear();
  }

  private track(work: Promise<void>): void {
    const tracked = work
      .catch((e: unknown) => this.log.error('delivery handling failed', { error: describeCause(e) }))
      .finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  private async handle(s: Session, queue: string, msg: ConsumeMessage): Promise<void> {
    const limit = this.options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    if (msg.content.length > limit) return this.deadLetter(s, queue, msg, 'oversized', `body of ${msg.content.length} bytes exceeds the ${limit}-byte limit`);
    const decoded = decodeDelivery(msg);
    if (!decoded.ok) return this.deadLetter(s, queue, msg, decoded.reason, decoded.detail);
    const m = decoded.message;
    const registered = this.tasks.get(m.task);
    if (!registered) {
      // As a Python worker does: not run, and a NotRegistered failure for a caller that waits.
      this.reply(s, m, 'FAILURE', exceptionInfo('NotRegistered', `'${m.task}'`, 'celery.exceptions'));
      return this.deadLetter(s, queue, msg, 'unknown-task', `no handler for task ${m.task} on this worker`);
    }
    const call = bindArguments(registered.spec.argNames, m.args, m.kwargs);
    try {
      registered.spec.assertArgs(call.args, call.kwargs);
    } catch (e) {
      if (!(e instanceof ContractValidationError)) throw e;
      this.reply(s, m, 'FAILURE', exceptionInfo('TypeError', e.message));
      return this.deadLetter(s, queue, msg, 'invalid-arguments', e.message);
    }
    if (m.expires && m.expires.getTime() <= Date.now()) {
      this.log.warn('task expired before it ran; discarded', { task: m.task, id: m.id, expires: m.expires.toISOString() });
      this.reply(s, m, 'REVOKED', exceptionInfo('TaskRevokedError', 'expired', 'celery.exceptions'));
      return this.ack(s, msg);
    }
    const delay = m.eta ? m.eta.getTime() - Date.now() : 0;
    if (delay > (this.options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS)) return this.park(s, queue, msg, delay);
    if (delay > 0 && !(await this.hold(s, msg, delay))) return;
    await this.run(s, queue, msg, m, registered, call);
  }

  /**
   * A far-off ETA is not held unacked (RabbitMQ's consumer_timeout, 30 minutes by default, would close
   * the channel): the message waits in a delay queue for the largest power-of-two seconds that fits,
   * comes back unchanged and is looked at again, until what remains is short enough to hold.
   */
  private async park(s: Session, queue: string, msg: ConsumeMessage, delay: number): Promise<void> {
    const bucketMs = 1000 * 2 ** Math.floor(Math.log2(Math.max(1, delay / 1000)));
    const delayQueue = await this.declareOnce(s, `delay:${queue}:${bucketMs}`, () => declareDelayQueue(s.publish, queue, bucketMs));
    await this.publishThenAck(s, msg, delayQueue, msg.content, republishProperties(msg.properties, msg.properties.headers ?? {}));
  }

  /** Waits out an ETA with the delivery unacked; false when the worker stopped or lost the connection first. */
  private hold(s: Session, msg: ConsumeMessage, delay: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.waiting.delete(timer)), delay);
      this.waiting.set(timer, () => {
        clearTimeout(timer);
        if (s.open) s.consume.nack(msg, false, true);
        resolve(false);
      });
    });
  }

  private async run(s: Session, queue: string, msg: ConsumeMessage, m: TaskMessage, r: Registered, call: ReturnType<typeof bindArguments>): Promise<void> {
    const started = performance.now();
    const context: TaskContext = { id: m.id, task: m.task, queue, retries: m.retries, redelivered: msg.fields.redelivered, message: m };
    let result: unknown;
    try {
      result = await r.handler(call.args, call.kwargs, context);
    } catch (e) {
      return this.failed(s, queue, msg, m, r, e);
    }
    const issues = r.spec.checkResult(result);
    if (issues.length > 0) {
      const e = new ContractValidationError(m.task, issues, 'result');
      this.log.error('handler returned a result that breaks the contract', { task: m.task, id: m.id, error: e.message });
      this.reply(s, m, 'FAILURE', exceptionInfo('ContractValidationError', e.message));
    } else {
      this.reply(s, m, 'SUCCESS', result);
    }
    this.ack(s, msg);
    this.log.info('task succeeded', { task: m.task, id: m.id, ms: Math.round(performance.now() - started) });
  }

  /** A handler threw: retry through a delay queue while the contract allows, then dead-letter. */
  private async failed(s: Session, queue: string, msg: ConsumeMessage, m: TaskMessage, r: Registered, e: unknown): Promise<void> {
    const error = e instanceof Error ? e : new Error(String(e));
    const policy = r.spec.retry;
    if (m.retries + 1 < policy.maxAttempts) {
      const delayMs = retryDelayMs(policy, m.retries);
      this.log.warn('task failed; will retry', { task: m.task, id: m.id, attempt: m.retries + 1, of: policy.maxAttempts, delayMs, error: describeCause(error) });
      const delayQueue = await this.declareOnce(s, `delay:${queue}:${delayMs}`, () => declareDelayQueue(s.publish, queue, delayMs));
      const headers = { ...(msg.properties.headers ?? {}), retries: m.retries + 1, parent_id: m.id };
      await this.publishThenAck(s, msg, delayQueue, msg.content, republishProperties(msg.properties, headers));
      return;
    }
    this.log.error('task failed; dead-lettered', { task: m.task, id: m.id, attempts: m.retries + 1, error: describeCause(error) });
    this.reply(s, m, 'FAILURE', exceptionInfo(error.name, error.message), error.stack ?? null);
    await this.deadLetter(s, queue, msg, 'failed', `${error.name}: ${error.message} (after ${m.retries + 1} attempt${m.retries ? 's' : ''})`);
  }

  /** Moves a delivery to `<queue>.dlq` with its body, headers and the reason, then acks it: never dropped. */
  private async deadLetter(s: Session, queue: string, msg: ConsumeMessage, reason: DeadLetterReason, detail: string): Promise<void> {
    const id = msg.properties.headers?.['id'] ?? msg.properties.correlationId;
    this.log.error('delivery dead-lettered', { queue, reason, detail, id: typeof id === 'string' ? id : '' });
    await this.declareOnce(s, `dlq:${queue}`, () => declareDeadLetterQueue(s.publish, queue));
    await this.publishThenAck(s, msg, dlqName(queue), msg.content, deadLetterProperties(msg, queue, reason, detail));
  }

  /** Publishes a copy with a broker confirm, then acks the original; if the copy fails the original is redelivered. */
  private async publishThenAck(s: Session, msg: ConsumeMessage, queue: string, content: Buffer, properties: Options.Publish): Promise<void> {
    try {
      await new Promise<void>((resolve, reject) => {
        s.publish.publish('', queue, content, { ...properties, mandatory: true }, (err) => (err ? reject(err) : resolve()));
      });
    } catch (e) {
      this.log.error('could not move delivery; it will be redelivered', { queue, error: describeCause(e) });
      if (s.open) s.consume.nack(msg, false, true);
      return;
    }
    this.ack(s, msg);
  }

  private declareOnce<T>(s: Session, key: string, declare: () => Promise<T>): Promise<T> {
    let done = s.declared.get(key) as Promise<T> | undefined;
    if (!done) {
      done = declare();
      s.declared.set(key, done);
    }
    return done;
  }

  private ack(s: Session, msg: ConsumeMessage): void {
    if (s.open) s.consume.ack(msg);
    else this.log.warn('connection lost before the ack; the broker will redeliver', { deliveryTag: msg.fields.deliveryTag });
  }

  /** Sends Celery's rpc reply to the caller's reply_to queue, unless it asked for no result. */
  private reply(s: Session, m: TaskMessage, status: TaskState, result: unknown, traceback: string | null = null): void {
    if (!m.replyTo || m.ignoreResult || !s.open) return;
    const r = encodeResult({ taskId: m.id, status, result, traceback });
    s.publish.publish('', m.replyTo, r.content, r.properties);
  }

  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  /** Waits for running handlers, up to a limit: a stuck handler must not hang the shutdown. */
  private async finishRunning(limitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), limitMs)));
    const finished = (async () => {
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    })();
    if ((await Promise.race([finished, limit])) === 'timeout') {
      this.log.warn('handlers still running at the stop limit; closing, the broker will redeliver their tasks', { running: this.inflight.size, limitMs });
    }
    clearTimeout(timer);
  }

  private async drain(): Promise<void> {
    try {
      const s = this.session;
      if (s?.open) for (const tag of s.consumerTags) await s.consume.cancel(tag).catch(() => undefined);
      for (const giveBack of this.waiting.values()) giveBack();
      this.waiting.clear();
      await this.finishRunning(this.options.stopTimeoutMs ?? 30_000);
      // Close the channels first: RabbitMQ may drop acks still queued on a channel when the connection
      // goes, and requeue what we already finished. Channel close-ok means every ack before it was applied.
      if (s?.open) {
        await s.publish.waitForConfirms().catch(() => undefined);
        await s.consume.close().catch(() => undefined);
        await s.publish.close().catch(() => undefined);
      }
      await this.reconnector?.close();
      this.log.info('worker stopped');
      this.settle.resolve();
    } catch (e) {
      this.settle.reject(e);
      throw e;
    }
  }
}
