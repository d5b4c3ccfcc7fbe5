import { randomUUID } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../client.js';
import { workerStatsFor } from '../metrics/worker-metrics.js';
import type { TaskSpec } from '../task.js';
import { DEFAULT_DELIVERY_LIMIT } from '../topology/queue-type.js';
import { DEFAULT_MAX_HOLD_MS, DEFAULT_PREFETCH, type Worker } from '../worker.js';
import { Delivery, type DeliverySource } from '../worker/delivery.js';
import { EtaScheduler } from '../worker/eta.js';
import { DeprecatedUse, processSafely, type PipelineDeps } from '../worker/pipeline.js';
import { claimStart, encodeReply, registerTask } from '../worker/serve.js';
import type { Registered, TaskHandler } from '../worker/types.js';
import type { InMemoryBus } from './bus.js';
import type { TestWorkerOptions } from './types.js';
import { runAsWork, Work } from './waits.js';

/**
 * The bus's Worker: deliveries the bus hands it go through the real pipeline (processSafely), whose replies,
 * dead letters and delayed copies go back into the bus; its ETA holds and clock are the bus's virtual ones.
 */
export class TestWorker implements Worker, DeliverySource {
  readonly tasks = new Map<string, Registered>();
  readonly stats = workerStatsFor(undefined);
  readonly metricsRegistry = null;
  readonly metricsPort = null;
  readonly name: string;
  readonly done: Promise<void>;
  readonly unsettled = new Set<Delivery>();
  readonly open = true;
  started = false;
  private consuming = false;
  private queues: readonly string[] = [];
  private readonly inflight = new Set<Work>();
  private readonly eta: EtaScheduler;
  private readonly deps: PipelineDeps;
  private readonly prefetch: number;
  private stopping: Promise<void> | null = null;
  private resolveDone!: () => void;

  constructor(
    private readonly bus: InMemoryBus,
    private readonly options: TestWorkerOptions,
  ) {
    this.name = options.name ?? `taskbus-test-${randomUUID().slice(0, 8)}@harness`;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.prefetch = options.prefetch ?? DEFAULT_PREFETCH;
    this.eta = new EtaScheduler(Math.floor(this.prefetch / 2), options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS, bus.clock);
    const log = options.logger ?? bus.log;
    this.deps = {
      tasks: this.tasks,
      log,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      deliveryLimit: options.deliveryLimit ?? DEFAULT_DELIVERY_LIMIT,
      eta: this.eta,
      deprecatedUse: new DeprecatedUse(),
      stats: this.stats,
      now: bus.clock.now,
      reply: (m, status, result, traceback) => {
        const r = encodeReply(m, status, result, traceback ?? null, log);
        if (r && m.replyTo) bus.reply(m.replyTo, r.content, r.properties, m.task);
      },
      move: async (d, target, properties) => {
        bus.copy(d.queue, d.msg.content, target, properties);
        d.ack();
      },
    };
  }

  register<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, handler: TaskHandler<A, K, R>): void {
    registerTask(this, spec, (args, kwargs, context) => {
      this.bus.ran(context.id);
      return handler(args, kwargs, context);
    });
  }

  async start(): Promise<void> {
    this.queues = claimStart(this, this.options.queues);
    this.consuming = true;
    this.bus.wake();
  }

  consumes(queue: string): boolean {
    return this.consuming && this.queues.includes(queue);
  }

  hasRoom(queue: string): boolean {
    return this.room(queue) > 0;
  }

  /** Free prefetch slots for `queue`: prefetch counts per queue, as each queue has its own consumer (and held ETAs count). */
  room(queue: string): number {
    let taken = 0;
    for (const d of this.unsettled) if (d.queue === queue) taken++;
    return Math.max(0, this.prefetch - taken);
  }

  /**
   * Deliveries being worked on now: in flight, not held for their ETA and not waiting for a result on the
   * bus (those wait for the clock, or for other deliveries).
   */
  working(): Promise<void>[] {
    const active = [...this.inflight].filter((w) => w.waiting === 0);
    return active.length > this.eta.holding ? active.map((w) => w.promise) : [];
  }

  deliver(queue: string, msg: ConsumeMessage): void {
    const work = new Work();
    this.inflight.add(work);
    void runAsWork(work, () => processSafely(new Delivery(msg, queue, this, this.deps.log), this.deps)).finally(() => {
      this.inflight.delete(work);
      this.bus.wake();
    });
  }

  ack(): void {
    this.bus.wake();
  }

  requeue(msg: ConsumeMessage): void {
    this.bus.requeue(msg);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.consuming = false;
      this.eta.giveBackAll();
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight].map((w) => w.promise));
      this.resolveDone();
    })();
    return this.stopping;
  }
}
