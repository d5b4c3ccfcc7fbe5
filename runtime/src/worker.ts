import type { ChannelModel } from 'amqplib';
import type { Registry } from 'prom-client';
import type { TaskMessage } from './celery/message.js';
import { exceptionInfo, type TaskState } from './celery/result.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './client.js';
import { TaskbusError } from './errors.js';
import { runtimeLogger, type Logger } from './logger.js';
import type { WorkerMetricsOptions } from './metrics/options.js';
import type { WorkerStats } from './metrics/stats.js';
import { WorkerMetrics, workerStatsFor } from './metrics/worker-metrics.js';
import type { ReconnectOptions } from './connect-options.js';
import { CLOSE_GRACE_MS } from './amqp/close.js';
import { settlesWithin } from './clock.js';
import { Reconnector } from './reconnect.js';
import { brokerInfo, RUNTIME_VERSION } from './control/info.js';
import { DEFAULT_MINGLE_TIMEOUT_MS, WorkerControl } from './control/worker-control.js';
import type { TaskSpec } from './task.js';
import { DEFAULT_DELIVERY_LIMIT, type QueueType } from './topology/queue-type.js';
import { WorkerChannels } from './worker/channels.js';
import type { Delivery } from './worker/delivery.js';
import { EtaScheduler } from './worker/eta.js';
import { Mover } from './worker/mover.js';
import { DeprecatedUse, processSafely, type PipelineDeps } from './worker/pipeline.js';
import { claimStart, encodeReply, registerTask } from './worker/serve.js';
import type { Registered, TaskHandler } from './worker/types.js';

export type { DeadLetterReason, TaskContext, TaskHandler } from './worker/types.js';

export interface WorkerOptions extends ReconnectOptions {
  /** Unacknowledged deliveries per queue, which is also how many handlers run at once (default 16). */
  readonly prefetch?: number;
  /** Queues to consume; defaults to the queues of the registered tasks. */
  readonly queues?: readonly string[];
  /**
   * The type of the queues this worker creates when they are missing; defaults to the registered tasks'
   * contract (`queueType`), else classic. Queues that exist are used as they are.
   */
  readonly queueType?: QueueType;
  /**
   * A delivery the broker has handed out this many times before (quorum queues count them in
   * `x-delivery-count`) goes to the dead-letter queue unrun: a task that kills its worker must not loop (default 20).
   */
  readonly deliveryLimit?: number;
  /** Largest body accepted (default 16 MiB); bigger deliveries go to the dead-letter queue unread. */
  readonly maxPayloadBytes?: number;
  /** ETA tasks due within this time may be held unacked; later ones wait in delay queues (default 10 minutes). */
  readonly maxHoldMs?: number;
  /** How long stop() waits for running handlers before closing anyway (default 30 s); their tasks are redelivered. */
  readonly stopTimeoutMs?: number;
  /** Default: stderr, text or JSON as LOG_FORMAT says, from LOG_LEVEL up (see loggerFromEnv), broker credentials hidden. */
  readonly logger?: Logger;
  /**
   * The node name this worker answers Celery's remote control as (`celery inspect ping` lists it); `%h` is the
   * host name. Default `taskbus-<pid>@<host>`, unique per process. Give each worker its own.
   */
  readonly name?: string;
  /** Answer Celery's remote control (`inspect`, `revoke`) on the `celery.pidbox` exchange (default true). */
  readonly remoteControl?: boolean;
  /**
   * At start, before consuming, ask the other workers (Python or TypeScript) for the task ids they hold revoked,
   * waiting this long for their answers (Celery's mingle; default 1000 ms, 0 skips it).
   */
  readonly mingleTimeoutMs?: number;
  /** Prometheus metrics (prom-client) per task and version; served over HTTP when `port` is set. */
  readonly metrics?: WorkerMetricsOptions;
}

export interface Worker {
  register<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, handler: TaskHandler<A, K, R>): void;
  /** Connects, declares the queues and starts consuming; later connection, channel and consumer losses are recovered by themselves. */
  start(): Promise<void>;
  /** Stops consuming, lets running handlers finish and ack, then closes. Safe to call twice. */
  stop(): Promise<void>;
  /** Settles when the worker stopped: resolves after stop(), rejects if it cannot reconnect (e.g. login refused). */
  readonly done: Promise<void>;
  /** The node name it answers remote control as. */
  readonly name: string;
  /** The registry holding this worker's metrics once start() has begun, when `metrics` was given; else null. */
  readonly metricsRegistry: Registry | null;
  /** The port serving `/metrics` once start() resolved (the one picked for port 0); null when not serving. */
  readonly metricsPort: number | null;
}

export const DEFAULT_MAX_HOLD_MS = 10 * 60_000;
export const DEFAULT_PREFETCH = 16;

export function createWorker(options: WorkerOptions = {}): Worker {
  return new AmqpWorker(options);
}

class AmqpWorker implements Worker {
  readonly tasks = new Map<string, Registered>();
  private readonly log: Logger;
  private readonly inflight = new Set<Promise<void>>();
  private readonly eta: EtaScheduler;
  private readonly deps: PipelineDeps;
  private readonly control: WorkerControl;
  readonly stats: WorkerStats;
  private metrics: WorkerMetrics | null = null;
  started = false;
  private reconnector: Reconnector | null = null;
  private channels: WorkerChannels | null = null;
  private queues: readonly string[] = [];
  private readonly queueTypes = new Map<string, QueueType>();
  private stopping: Promise<void> | null = null;
  private settle!: { resolve: () => void; reject: (e: unknown) => void };
  readonly done: Promise<void>;

  constructor(private readonly options: WorkerOptions) {
    this.log = options.logger ?? runtimeLogger('taskbus-worker', options.url);
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined);
    this.stats = workerStatsFor(options.metrics);
    const prefetch = options.prefetch ?? DEFAULT_PREFETCH;
    this.eta = new EtaScheduler(Math.floor(prefetch / 2), options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS);
    const mover = new Mover(() => this.channels, this.log);
    this.control = new WorkerControl({
      ...(options.name !== undefined ? { name: options.name } : {}),
      enabled: options.remoteControl ?? true,
      mingleTimeoutMs: options.mingleTimeoutMs ?? DEFAULT_MINGLE_TIMEOUT_MS,
      prefetch,
      softwareVersion: RUNTIME_VERSION,
      log: this.log,
      ...(options.reconnect ? { backoff: options.reconnect } : {}),
      tasks: () => [...this.tasks.keys()],
      queues: () => this.queues.map((name) => ({ name, arguments: (options.queueType ?? this.queueTypes.get(name)) === 'quorum' ? { 'x-queue-type': 'quorum' } : null })),
      broker: () => brokerInfo(this.reconnector?.broker ?? null, options.heartbeat),
      metrics: () => (this.metrics?.server ? { host: this.metrics.server.host, port: this.metrics.server.port } : null),
    });
    this.deps = {
      tasks: this.tasks,
      log: this.log,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      deliveryLimit: options.deliveryLimit ?? DEFAULT_DELIVERY_LIMIT,
      eta: this.eta,
      deprecatedUse: new DeprecatedUse(),
      stats: this.stats,
      now: Date.now,
      reply: (m, status, result, traceback) => this.reply(m, status, result, traceback),
      move: (d, target, properties) => mover.move(d, target, properties),
      control: this.control,
    };
  }

  get name(): string {
    return this.control.node;
  }

  get metricsRegistry(): Registry | null {
    return this.metrics?.registry ?? null;
  }

  get metricsPort(): number | null {
    return this.metrics?.server?.port ?? null;
  }

  register<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, handler: TaskHandler<A, K, R>): void {
    registerTask(this, spec, handler);
  }

  async start(): Promise<void> {
    // Marked started before the first await: serving metrics may come before the reconnector exists.
    this.queues = claimStart(this, this.options.queues);
    this.resolveQueueTypes();
    // Serving before connecting: a worker that cannot reach its broker is worth scraping too.
    if (this.options.metrics) this.metrics = await WorkerMetrics.start(this.stats, this.options.metrics);
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
    try {
      await this.reconnector.start();
    } catch (e) {
      await this.metrics?.close();
      throw e;
    }
    const metrics = this.metrics?.server;
    this.log.info('worker started', { node: this.control.node, queues: this.queues.join(','), tasks: [...this.tasks.keys()].sort().join(','), ...(metrics ? { metrics: `http://${metrics.host}:${metrics.port}/metrics` } : {}) });
  }

  /** Each queue's type, from the option or else from its tasks' contracts, which must agree. */
  private resolveQueueTypes(): void {
    for (const { spec } of this.tasks.values()) {
      const seen = this.queueTypes.get(spec.queue);
      if (seen && seen !== spec.queueType && !this.options.queueType) {
        throw new TaskbusError('E_QUEUE_TYPE_CONFLICT', `tasks on queue "${spec.queue}" disagree on its type (${seen} and ${spec.queueType}); make their contracts agree, or set the worker's queueType option`);
      }
      this.queueTypes.set(spec.queue, spec.queueType);
    }
  }

  /** Runs on every (re)connection: channels, topology and consumers (none once stopping has begun). */
  private async setup(connection: ChannelModel): Promise<void> {
    const channels = new WorkerChannels(connection, {
      queues: this.queues,
      queueType: (queue) => this.options.queueType ?? this.queueTypes.get(queue) ?? 'classic',
      prefetch: this.options.prefetch ?? DEFAULT_PREFETCH,
      log: this.log,
      ...(this.options.reconnect ? { backoff: this.options.reconnect } : {}),
      onDelivery: (d) => this.track(d),
      onConsumeLost: (lost) => this.consumeLost(lost),
    });
    this.channels = channels;
    await this.control.attach(connection);
    await channels.open(!this.stopping);
  }

  private lost(): void {
    this.channels = null;
  }

  private consumeLost(lost: readonly Delivery[]): void {
    this.eta.dropLost();
    if (lost.length > 0) this.log.warn('consume channel closed; the broker redelivers its unsettled deliveries', { count: lost.length });
  }

  private track(d: Delivery): void {
    const work = processSafely(d, this.deps).finally(() => this.inflight.delete(work));
    this.inflight.add(work);
  }

  /** Sends Celery's rpc reply to the caller's reply_to queue, unless it asked for no result. */
  private reply(m: TaskMessage, status: TaskState, result: unknown, traceback: string | null = null): void {
    const r = encodeReply(m, status, result, traceback, this.log);
    if (!r || !m.replyTo) return;
    const sent = this.channels?.reply(m.replyTo, r.content, r.properties) ?? 'no channel';
    if (sent === 'no channel') this.log.warn('no open channel for the reply; it is lost (the caller times out)', { task: m.task, id: m.id, status });
    if (sent === 'unencodable') this.log.warn('the reply cannot be sent: its correlation id (the task id) or reply_to cannot be encoded, e.g. over 255 bytes', { task: m.task, id: m.id.slice(0, 64), status });
    if (sent === 'too large') {
      const why = `the result of ${r.content.length} bytes is over the broker's max_message_size`;
      this.log.warn(`${why}; the caller gets EncodeError instead`, { task: m.task, id: m.id, status });
      this.reply(m, 'FAILURE', exceptionInfo('EncodeError', why, 'kombu.exceptions'));
    }
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
      // A broker that stopped reading (blocked by an alarm, hung) answers neither the cancel nor the closes:
      // the cancel, then the closes together, get CLOSE_GRACE_MS each, then the connection is dropped and
      // the broker redelivers what was not acked.
      await settlesWithin(this.channels?.stopConsuming() ?? Promise.resolve(), CLOSE_GRACE_MS);
      this.eta.giveBackAll();
      await this.finishRunning(this.options.stopTimeoutMs ?? 30_000);
      this.channels?.hurryDeferred();
      const until = Date.now() + CLOSE_GRACE_MS;
      // The control channel closes with the others, in the same grace: a frozen broker answers none of them.
      await settlesWithin(Promise.all([this.control.detach(), this.channels?.close()]), CLOSE_GRACE_MS);
      await this.reconnector?.close(until - Date.now());
      await this.metrics?.close();
      this.log.info('worker stopped');
      this.settle.resolve();
    } catch (e) {
      this.settle.reject(e);
      throw e;
    }
  }
}
