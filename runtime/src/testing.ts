/**
 * `@taskbus/runtime/testing`: an in-memory bus to test services without a broker. Its client and workers
 * implement TaskClient and Worker, so generated bindings plug in unchanged; calls are checked and encoded by
 * the same code as the AMQP client's, and deliveries go through the same worker pipeline (contract checks,
 * retries, dead letters, ETA, expiry), with time on a virtual clock the test drives.
 *
 * Like the broker: queues are FIFO per name, a worker takes at most `prefetch` deliveries at once (held ETAs
 * count), a task's per-message TTL (Celery sets it from `expires`) drops it unseen if it waits in its queue
 * that long (as a classic queue does; a quorum task queue would dead-letter it), and retries and parked ETAs come back through "delay queues" timed on the clock. Not modelled:
 * priorities, quorum queues' delivery counts, remote control (revoke), publisher confirms and lost connections.
 * Time limits (`timeLimit`, `softTimeLimit`) run on real timers, not the virtual clock.
 */
import { AssertionError } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual, inspect } from 'node:util';
import type { ConsumeMessage, MessageProperties, Options } from 'amqplib';
import type { Clock } from './clock.js';
import type { CallOptions } from './celery/message.js';
import type { TaskState } from './celery/result.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, prepareCall, sentTask, type SentTask, type TaskClient } from './client.js';
import { dlqName, DLQ_HEADERS } from './deadletter.js';
import { ClosedError, PayloadTooLargeError, TaskbusError } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import { workerStatsFor } from './metrics/worker-metrics.js';
import { ResultStore } from './result-store.js';
import { receiveReply } from './results.js';
import type { TaskSpec } from './task.js';
import { DEFAULT_DELIVERY_LIMIT } from './topology/queue-type.js';
import { DEFAULT_MAX_HOLD_MS, DEFAULT_PREFETCH, type Worker, type WorkerOptions } from './worker.js';
import { Delivery, type DeliverySource } from './worker/delivery.js';
import { EtaScheduler } from './worker/eta.js';
import { DeprecatedUse, processSafely, type CopyTarget, type PipelineDeps } from './worker/pipeline.js';
import { encodeReply, registerTask } from './worker/serve.js';
import type { Registered, TaskHandler } from './worker/types.js';

export interface TestBusOptions {
  /** Where the virtual clock starts (default: the real time when the bus is created). */
  readonly startAt?: Date | number;
  /** Logger of the client and of workers without their own (default: silent). */
  readonly logger?: Logger;
}

/** Options of a harness worker: those of createWorker that mean something without a broker. */
export type TestWorkerOptions = Pick<WorkerOptions, 'queues' | 'prefetch' | 'maxHoldMs' | 'deliveryLimit' | 'maxPayloadBytes' | 'logger' | 'name'>;

/** The bus's virtual time. Countdowns, ETAs, expiry, retry delays and result() timeouts follow it; nothing waits real time. */
export interface TestClock {
  /** Milliseconds since the epoch, on the virtual clock. */
  now(): number;
  /**
   * Moves time forward by `ms`, firing every timer that falls due in order (a retry coming back, a held
   * countdown), and running the work each starts until the bus is idle before the next.
   */
  advance(ms: number): Promise<void>;
}

/** A call the bus's client sent (after its contract check passed). */
export interface SentCall<A extends readonly unknown[] = readonly unknown[], K extends object = object> {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  readonly args: A;
  readonly kwargs: K;
  readonly options: CallOptions;
}

/** A task as it waits in a queue (or in a dead-letter queue), read from its message. */
export interface QueuedTask {
  readonly id: string;
  readonly task: string;
  /** The positional and keyword arguments as sent, or undefined when the body is not a Celery JSON body. */
  readonly args: readonly unknown[] | undefined;
  readonly kwargs: Readonly<Record<string, unknown>> | undefined;
  /** Attempts before this one (the `retries` header). */
  readonly retries: number;
  readonly headers: Readonly<Record<string, unknown>>;
}

/** A message in `<queue>.dlq`, with the worker's reason (`failed`, `invalid-arguments`, ...) and error. */
export interface DeadLetterRecord extends QueuedTask {
  readonly reason: string;
  readonly error: string;
}

/** A reply a worker sent to a caller (Celery's rpc result). */
export interface TaskOutcome {
  readonly id: string;
  readonly task: string;
  readonly status: TaskState;
  readonly result: unknown;
  readonly traceback: string | null;
}

export interface ExpectSent<A extends readonly unknown[], K extends object> {
  /** Exactly this many matching calls (default: at least one). */
  readonly times?: number;
  /** Only calls with these positional arguments (deep equality). */
  readonly args?: A;
  /** Only calls with these keyword arguments (deep equality). */
  readonly kwargs?: K;
}

export interface TestBus {
  readonly clock: TestClock;
  /** A TaskClient sending into the bus: `createXClient(bus.client)` works unchanged. */
  readonly client: TaskClient;
  /** A Worker consuming from the bus once started: `bindXHandlers(bus.worker(), handlers)` works unchanged. */
  worker(options?: TestWorkerOptions): Worker;
  /** Delivers what can be delivered now and waits for the handlers it starts, without moving the clock. */
  runUntilIdle(): Promise<void>;
  /** The calls sent of this task version (or task name), oldest first; every call when none is given. */
  sent<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>): SentCall<A, K>[];
  sent(task?: string): SentCall[];
  /** Throws an AssertionError showing what was sent unless the call was sent as expected. */
  expectSent<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R> | string, expected?: ExpectSent<A, K>): void;
  /** Tasks waiting in a queue (no started worker consumes it, or they wait for a free prefetch slot). */
  queued(queue: string): QueuedTask[];
  /** What the workers dead-lettered from a task queue (`queue`, not `queue.dlq`), oldest first. */
  deadLetters(queue: string): DeadLetterRecord[];
  /** Replies sent by the workers, oldest first. */
  outcomes(): TaskOutcome[];
  /** How many times a handler ran for this task id (retries included). */
  attempts(taskId: string): number;
  /** Stops the workers and closes the client; pending result() calls reject with ClosedError. */
  close(): Promise<void>;
}

/** Creates an in-memory bus. */
export function createTestBus(options: TestBusOptions = {}): TestBus {
  return new InMemoryBus(options);
}

/** A message as the in-memory broker holds it: headers plain, as amqplib would hand them to a consumer. */
interface Stored {
  readonly content: Buffer;
  readonly properties: Readonly<Record<string, unknown>> & { readonly headers: Readonly<Record<string, unknown>>; readonly expiration?: string | undefined };
  readonly redelivered: boolean;
  readonly enqueuedAt: number;
}

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

class VirtualClock implements Clock, TestClock {
  private t: number;
  private seq = 0;
  private readonly timers = new Set<Timer>();

  constructor(
    start: number,
    private readonly bus: InMemoryBus,
  ) {
    this.t = start;
  }

  readonly now = (): number => this.t;

  readonly after = (ms: number, fn: () => void): (() => void) => {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.add(timer);
    this.bus.wake();
    return () => this.timers.delete(timer);
  };

  readonly advance = async (ms: number): Promise<void> => {
    const until = this.t + ms;
    for (;;) {
      await this.bus.runUntilIdle();
      let next: Timer | undefined;
      for (const t of this.timers) if (t.at <= until && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.timers.delete(next);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = until;
    await this.bus.runUntilIdle();
  };
}

/** Headers as a consumer reads them off the wire: amqplib's typed values ({'!': 'long', value}) plain, undefined left out. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Date)) {
    if ('!' in v && 'value' in v) return plain((v as { value: unknown }).value);
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

function stored(content: Buffer, properties: Options.Publish, enqueuedAt: number): Stored {
  const { headers, ...rest } = properties;
  const props = Object.fromEntries(Object.entries(rest).filter(([, x]) => x !== undefined));
  return { content, properties: { ...props, headers: plain(headers ?? {}) as Record<string, unknown> }, redelivered: false, enqueuedAt };
}

function describeTask(s: Stored): QueuedTask {
  const h = s.properties.headers;
  let body: unknown;
  try {
    body = JSON.parse(s.content.toString('utf8'));
  } catch {
    body = undefined;
  }
  const [args, kwargs] = Array.isArray(body) ? (body as unknown[]) : [];
  return {
    id: typeof h['id'] === 'string' ? h['id'] : '',
    task: typeof h['task'] === 'string' ? h['task'] : '',
    args: Array.isArray(args) ? args : undefined,
    kwargs: kwargs && typeof kwargs === 'object' && !Array.isArray(kwargs) ? (kwargs as Record<string, unknown>) : undefined,
    retries: typeof h['retries'] === 'number' ? h['retries'] : 0,
    headers: h,
  };
}

class InMemoryBus implements TestBus {
  readonly clock: VirtualClock;
  readonly client: TestClient;
  readonly log: Logger;
  private readonly queues = new Map<string, Stored[]>();
  private readonly dead = new Map<string, Stored[]>();
  private readonly workers = new Set<TestWorker>();
  private readonly calls: SentCall[] = [];
  private readonly replies: TaskOutcome[] = [];
  private readonly runs = new Map<string, number>();
  private readonly stores = new Map<string, ResultStore>();
  private waiters: (() => void)[] = [];
  private pumpQueued = false;
  private tag = 0;

  constructor(options: TestBusOptions) {
    const start = options.startAt === undefined ? Date.now() : new Date(options.startAt).getTime();
    this.clock = new VirtualClock(start, this);
    this.log = options.logger ?? silentLogger;
    this.client = new TestClient(this);
  }

  worker(options: TestWorkerOptions = {}): Worker {
    const w = new TestWorker(this, options);
    this.workers.add(w);
    return w;
  }

  /** Something changed (a message, a timer, a settled delivery): deliver soon, and let runUntilIdle look again. */
  wake(): void {
    for (const w of this.waiters.splice(0)) w();
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  replyQueue(replyTo: string, store: ResultStore): void {
    this.stores.set(replyTo, store);
  }

  recordCall(call: SentCall): void {
    this.calls.push(call);
  }

  ran(taskId: string): void {
    this.runs.set(taskId, (this.runs.get(taskId) ?? 0) + 1);
  }

  enqueue(queue: string, s: Stored, front = false): void {
    let q = this.queues.get(queue);
    if (!q) this.queues.set(queue, (q = []));
    if (front) q.unshift(s);
    else q.push(s);
    this.wake();
  }

  /** The worker's copy of a delivery: to the dead-letter queue, or back to its queue after `ms` on the clock. */
  copy(queue: string, content: Buffer, target: CopyTarget, properties: Options.Publish): void {
    const s = stored(content, properties, this.clock.now());
    if (target.kind === 'delay') {
      this.clock.after(target.ms, () => this.enqueue(queue, { ...s, enqueuedAt: this.clock.now() }));
      return;
    }
    const name = dlqName(queue);
    this.dead.set(name, [...(this.dead.get(name) ?? []), s]);
  }

  reply(replyTo: string, content: Buffer, properties: { readonly correlationId: string; readonly contentType: string; readonly contentEncoding: string }, task: string): void {
    const body = JSON.parse(content.toString('utf8')) as { task_id: string; status: TaskState; result: unknown; traceback: string | null };
    this.replies.push({ id: body.task_id, task, status: body.status, result: body.result, traceback: body.traceback });
    const store = this.stores.get(replyTo);
    if (store) receiveReply({ content, properties }, store, this.log);
  }

  /** Hands waiting messages to started workers, as far as their prefetch allows. */
  pump(): void {
    for (const [queue, q] of this.queues) {
      while (q.length > 0) {
        const w = [...this.workers].find((x) => x.consumes(queue) && x.hasRoom());
        if (!w) break;
        const s = q.shift()!;
        const ttl = s.properties.expiration === undefined ? NaN : Number(s.properties.expiration);
        if (this.clock.now() >= s.enqueuedAt + ttl) {
          // As RabbitMQ with a per-message TTL (Celery sets it from `expires`): dropped unseen, no reply.
          this.log.warn('message expired in its queue (per-message TTL); dropped', { queue, id: String(s.properties.headers['id']) });
          continue;
        }
        w.deliver(queue, this.message(queue, s));
      }
    }
  }

  private message(queue: string, s: Stored): ConsumeMessage {
    return {
      content: s.content,
      fields: { deliveryTag: ++this.tag, redelivered: s.redelivered, consumerTag: 'taskbus-test', exchange: '', routingKey: queue },
      properties: s.properties as unknown as MessageProperties,
    } as ConsumeMessage;
  }

  async runUntilIdle(): Promise<void> {
    for (;;) {
      this.pump();
      const working = [...this.workers].flatMap((w) => w.working());
      if (working.length === 0) {
        // Let callbacks of promises already settled run (a handler's last await), then look again.
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.pump();
        if ([...this.workers].every((w) => w.working().length === 0)) return;
        continue;
      }
      await Promise.race([...working, new Promise<void>((resolve) => this.waiters.push(resolve))]);
    }
  }

  sent(task?: TaskSpec<readonly unknown[], object, unknown> | string): SentCall[] {
    const name = typeof task === 'string' ? task : task?.name;
    return this.calls.filter((c) => name === undefined || c.task === name);
  }

  expectSent<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R> | string, expected: ExpectSent<A, K> = {}): void {
    const name = typeof spec === 'string' ? spec : spec.name;
    const calls = this.sent(name);
    const matches = (c: SentCall) =>
      (expected.args === undefined || isDeepStrictEqual(c.args, expected.args)) && (expected.kwargs === undefined || isDeepStrictEqual(c.kwargs, expected.kwargs));
    const matching = calls.filter(matches).length;
    if (expected.times === undefined ? matching > 0 : matching === expected.times) return;
    const show = (v: unknown) => inspect(v, { depth: 6, breakLength: Infinity });
    const times = (n: number) => (n === 1 ? 'once' : `${n} times`);
    const version = typeof spec !== 'string' && spec.version !== undefined ? ` (v${spec.version})` : '';
    const wanted = [
      expected.times === undefined ? 'at least once' : times(expected.times),
      expected.args !== undefined ? `with args ${show(expected.args)}` : '',
      expected.kwargs !== undefined ? `kwargs ${show(expected.kwargs)}` : '',
    ].filter(Boolean);
    const seen =
      calls.length > 0
        ? `it was sent ${times(calls.length)}:\n${calls.map((c, i) => `  ${i + 1}. args ${show(c.args)} kwargs ${show(c.kwargs)} (id ${c.id}, queue ${c.queue})`).join('\n')}`
        : `it was never sent; sent were: ${[...new Set(this.calls.map((c) => c.task))].join(', ') || 'nothing'}`;
    throw new AssertionError({
      message: `expected ${name}${version} to be sent ${wanted.join(' ')}, but ${matching} call${matching === 1 ? '' : 's'} matched; ${seen}`,
      actual: calls.map((c) => ({ args: c.args, kwargs: c.kwargs })),
      expected,
      operator: 'expectSent',
    });
  }

  queued(queue: string): QueuedTask[] {
    return (this.queues.get(queue) ?? []).map(describeTask);
  }

  deadLetters(queue: string): DeadLetterRecord[] {
    return (this.dead.get(dlqName(queue)) ?? []).map((s) => ({
      ...describeTask(s),
      reason: String(s.properties.headers[DLQ_HEADERS.reason] ?? ''),
      error: String(s.properties.headers[DLQ_HEADERS.error] ?? ''),
    }));
  }

  outcomes(): TaskOutcome[] {
    return [...this.replies];
  }

  attempts(taskId: string): number {
    return this.runs.get(taskId) ?? 0;
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers].map((w) => w.stop()));
    await this.client.close();
  }
}

class TestClient implements TaskClient {
  readonly metricsRegistry = null;
  private readonly replyTo = `taskbus-test-${randomUUID()}`;
  private readonly origin = `gen${process.pid}@taskbus-test`;
  private readonly results: ResultStore;
  private closed = false;

  constructor(private readonly bus: InMemoryBus) {
    this.results = new ResultStore({ ttlMs: 3_600_000, maxUnclaimedBytes: 64 * 1024 * 1024 }, bus.log, bus.clock.now, bus.clock.after);
    bus.replyQueue(this.replyTo, this.results);
  }

  async send<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, args: A, kwargs: K, options: CallOptions = {}): Promise<SentTask<R>> {
    const assertOpen = () => {
      if (this.closed) throw new ClosedError('test bus client');
    };
    const { id, queue, encoded } = prepareCall(spec, args, kwargs, options, { replyTo: this.replyTo, origin: this.origin, assertOpen, now: this.bus.clock.now });
    if (encoded.content.length > DEFAULT_MAX_PAYLOAD_BYTES) throw new PayloadTooLargeError(spec.name, encoded.content.length, DEFAULT_MAX_PAYLOAD_BYTES);
    const ticket = options.ignoreResult ? null : this.results.expect(id, spec.name);
    this.bus.recordCall({ id, task: spec.name, queue, args, kwargs, options });
    // The properties' headers are a getter: read once, as the AMQP client's publish does.
    this.bus.enqueue(queue, stored(encoded.content, { ...encoded.properties, headers: encoded.properties.headers }, this.bus.clock.now()));
    return sentTask(spec, id, queue, this.results, ticket);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.results.close(new ClosedError('test bus client'));
  }
}

class TestWorker implements Worker, DeliverySource {
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
  private readonly inflight = new Set<Promise<void>>();
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
    if (this.started) throw new TaskbusError('E_WORKER_STARTED', 'worker.start() was already called; create another worker to consume elsewhere');
    this.started = true;
    this.queues = this.options.queues ?? [...new Set([...this.tasks.values()].map((t) => t.spec.queue))].sort();
    if (this.queues.length === 0) throw new TaskbusError('E_NO_TASKS', 'worker has no tasks registered and no queues given');
    this.consuming = true;
    this.bus.wake();
  }

  consumes(queue: string): boolean {
    return this.consuming && this.queues.includes(queue);
  }

  hasRoom(): boolean {
    return this.unsettled.size < this.prefetch;
  }

  /** Deliveries being worked on now: in flight and not held for their ETA (those wait for the clock). */
  working(): Promise<void>[] {
    return this.inflight.size > this.eta.holding ? [...this.inflight] : [];
  }

  deliver(queue: string, msg: ConsumeMessage): void {
    const work = processSafely(new Delivery(msg, queue, this, this.deps.log), this.deps).finally(() => {
      this.inflight.delete(work);
      this.bus.wake();
    });
    this.inflight.add(work);
  }

  ack(): void {
    this.bus.wake();
  }

  requeue(msg: ConsumeMessage): void {
    const { content, properties } = msg;
    this.bus.enqueue(msg.fields.routingKey, { content, properties: properties as unknown as Stored['properties'], redelivered: true, enqueuedAt: this.bus.clock.now() }, true);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.consuming = false;
      this.eta.giveBackAll();
      while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
      this.resolveDone();
    })();
    return this.stopping;
  }
}
