import type { ConsumeMessage, MessageProperties, Options } from 'amqplib';
import type { TaskState } from '../celery/result.js';
import { dlqName, DLQ_HEADERS } from '../deadletter.js';
import { silentLogger, type Logger } from '../logger.js';
import type { ResultStore } from '../result-store.js';
import { receiveReply } from '../results.js';
import type { TaskSpec } from '../task.js';
import type { Worker } from '../worker.js';
import type { CopyTarget } from '../worker/pipeline.js';
import { expectSent, sentOf } from './assertions.js';
import { VirtualClock } from './clock.js';
import { TestClient } from './client.js';
import { describeTask, expired, stored, ttlMs, type Stored } from './message.js';
import type { DeadLetterRecord, ExpectSent, QueuedTask, SentCall, TaskOutcome, TestBus, TestBusOptions, TestWorkerOptions } from './types.js';
import { TestWorker } from './worker.js';

/**
 * The in-memory broker: FIFO queues by name, dead-letter queues, delay queues as timers on the clock, and a
 * pump handing waiting messages to started workers as far as their prefetch allows. It records what the
 * client sent and what the workers ran and replied, for the test to look at.
 */
export class InMemoryBus implements TestBus {
  readonly clock: VirtualClock;
  readonly client: TestClient;
  readonly log: Logger;
  private readonly queues = new Map<string, Stored[]>();
  private readonly dead = new Map<string, Stored[]>();
  private readonly workers: TestWorker[] = [];
  private readonly calls: SentCall[] = [];
  private readonly replies: TaskOutcome[] = [];
  private readonly runs = new Map<string, number>();
  private readonly stores = new Map<string, ResultStore>();
  /** What each delivery was in its queue, to give it back as it was. */
  private readonly delivered = new WeakMap<ConsumeMessage, Stored>();
  /** Per queue, where the round-robin over workers goes on from. */
  private readonly served = new Map<string, number>();
  private waiters: (() => void)[] = [];
  private pumpQueued = false;
  private tag = 0;

  constructor(options: TestBusOptions) {
    const start = options.startAt === undefined ? Date.now() : new Date(options.startAt).getTime();
    if (!Number.isFinite(start)) throw new RangeError(`startAt is not a time: ${String(options.startAt)}`);
    this.clock = new VirtualClock(start, this);
    this.log = options.logger ?? silentLogger;
    this.client = new TestClient(this);
  }

  worker(options: TestWorkerOptions = {}): Worker {
    const w = new TestWorker(this, options);
    this.workers.push(w);
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
    if (!front && ttlMs(s) === 0 && this.freeSlots(queue) <= q.length) {
      // A TTL of 0 (`expires: 0`) reaches only a consumer ready at once (the tasks ahead of it are about to be
      // delivered too, as the broker would have by now); RabbitMQ drops it otherwise.
      return this.dropExpired(queue, s);
    }
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
    let letters = this.dead.get(name);
    if (!letters) this.dead.set(name, (letters = []));
    letters.push(s);
  }

  reply(replyTo: string, content: Buffer, properties: { readonly correlationId: string; readonly contentType: string; readonly contentEncoding: string }, task: string): void {
    const body = JSON.parse(content.toString('utf8')) as { task_id: string; status: TaskState; result: unknown; traceback: string | null };
    this.replies.push({ id: body.task_id, task, status: body.status, result: body.result, traceback: body.traceback });
    const store = this.stores.get(replyTo);
    if (store) receiveReply({ content, properties }, store, this.log);
  }

  /** Hands waiting messages to started workers, as far as their prefetch allows, in turn as RabbitMQ does. */
  pump(): void {
    for (const [queue, q] of this.queues) {
      while (q.length > 0) {
        const w = this.nextConsumer(queue);
        if (!w) break;
        const s = q.shift()!;
        if (expired(s, this.clock.now())) {
          this.dropExpired(queue, s);
          continue;
        }
        w.deliver(queue, this.message(queue, s));
      }
    }
  }

  /** Deliveries the queue's workers could take now. */
  private freeSlots(queue: string): number {
    return this.workers.reduce((n, w) => n + (w.consumes(queue) ? w.room(queue) : 0), 0);
  }

  /** The queue's next consumer with a free prefetch slot, round-robin: the one after the last served. */
  private nextConsumer(queue: string): TestWorker | undefined {
    const ws = this.workers;
    const from = this.served.get(queue) ?? 0;
    for (let i = 0; i < ws.length; i++) {
      const at = (from + i) % ws.length;
      const w = ws[at]!;
      if (!w.consumes(queue) || !w.hasRoom(queue)) continue;
      this.served.set(queue, at + 1);
      return w;
    }
    return undefined;
  }

  /** As RabbitMQ with a per-message TTL (Celery sets it from `expires`): dropped unseen, no reply. */
  private dropExpired(queue: string, s: Stored): void {
    this.log.warn('message expired in its queue (per-message TTL); dropped', { queue, id: String(s.properties.headers['id']) });
  }

  private message(queue: string, s: Stored): ConsumeMessage {
    const msg = {
      content: s.content,
      fields: { deliveryTag: ++this.tag, redelivered: s.redelivered, consumerTag: 'taskbus-test', exchange: '', routingKey: queue },
      properties: s.properties as unknown as MessageProperties,
    } as ConsumeMessage;
    this.delivered.set(msg, s);
    return msg;
  }

  /** A delivery handed back (nack with requeue): to the head of its queue, redelivered, its TTL counted from its first enqueue as RabbitMQ does. */
  requeue(msg: ConsumeMessage): void {
    const s = this.delivered.get(msg);
    if (s) this.enqueue(msg.fields.routingKey, { ...s, redelivered: true }, true);
  }

  async runUntilIdle(): Promise<void> {
    for (;;) {
      this.pump();
      const working = this.workers.flatMap((w) => w.working());
      if (working.length === 0) {
        // Let callbacks of promises already settled run (a handler's last await), then look again.
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.pump();
        if (this.workers.every((w) => w.working().length === 0)) return;
        continue;
      }
      await Promise.race([...working, new Promise<void>((resolve) => this.waiters.push(resolve))]);
    }
  }

  sent(task?: TaskSpec<readonly unknown[], object, unknown> | string): SentCall[] {
    return sentOf(this.calls, task);
  }

  expectSent<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R> | string, expected: ExpectSent<A, K> = {}): void {
    expectSent(this.calls, spec, expected);
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
    // The workers take no more deliveries; then results still awaited, by handlers too, reject with ClosedError,
    // so a handler waiting for a call that will not run now ends; then the running handlers are waited for.
    const stopped = this.workers.map((w) => w.stop());
    await this.client.close();
    await Promise.all(stopped);
  }
}
