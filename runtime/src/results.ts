import type { Channel, ConsumeMessage } from 'amqplib';
import { decodeResult, readException, FINAL_STATES, type ResultMessage } from './celery/result.js';
import { RemoteTaskError, ResultTimeoutError, TaskbusError, TopologyError } from './errors.js';
import type { Logger } from './logger.js';

/** Replies kept for tasks nobody has asked about yet; the oldest go first past this bound. */
const MAX_UNCLAIMED = 1000;
/** Celery's default `result_expires`: the reply queue outlives a crashed client by a day at most. */
const REPLY_QUEUE_EXPIRES_MS = 86_400_000;

interface Waiter {
  readonly resolve: (m: ResultMessage) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The client process's reply queue (Celery's rpc:// backend: one queue per process, named by its
 * reply_to, replies correlated by task id). Replies may arrive before anyone asks for them.
 */
export class ResultListener {
  private readonly waiters = new Map<string, Waiter>();
  private readonly unclaimed = new Map<string, ResultMessage>();
  private channel: Channel | null = null;

  constructor(
    private readonly queue: string,
    private readonly log: Logger,
  ) {}

  /** (Re)declares the reply queue and consumes it; called on every new connection. */
  async attach(channel: Channel): Promise<void> {
    // Not auto-delete: replies sent while reconnecting must wait for us. x-expires removes the queue of a
    // process that died; close() deletes it at once.
    channel.on('error', () => undefined); // a refused declaration closes the channel; the rejection says why
    try {
      await channel.assertQueue(this.queue, { durable: false, autoDelete: false, arguments: { 'x-expires': REPLY_QUEUE_EXPIRES_MS } });
    } catch (e) {
      throw new TopologyError(this.queue, e);
    }
    await channel.consume(this.queue, (msg) => msg && this.onReply(msg), { noAck: true });
    this.channel = channel;
  }

  /** Deletes the reply queue (clean shutdown). */
  async detach(): Promise<void> {
    await this.channel?.deleteQueue(this.queue).catch(() => undefined);
    this.channel = null;
  }

  private onReply(msg: ConsumeMessage): void {
    const decoded = decodeResult(msg);
    if (!decoded.ok) {
      this.log.warn('unreadable result reply ignored', { detail: decoded.detail, id: String(msg.properties.correlationId ?? '') });
      return;
    }
    const m = decoded.message;
    if (!FINAL_STATES.has(m.status)) return;
    const waiter = this.waiters.get(m.taskId);
    if (waiter) {
      clearTimeout(waiter.timer);
      this.waiters.delete(m.taskId);
      waiter.resolve(m);
      return;
    }
    this.unclaimed.set(m.taskId, m);
    if (this.unclaimed.size > MAX_UNCLAIMED) this.unclaimed.delete(this.unclaimed.keys().next().value!);
  }

  /** The task's final reply as a value, or a RemoteTaskError / ResultTimeoutError. */
  async wait(taskId: string, task: string, timeoutMs: number): Promise<unknown> {
    const m = this.unclaimed.get(taskId) ?? (await this.next(taskId, task, timeoutMs));
    this.unclaimed.delete(taskId);
    if (m.status === 'SUCCESS') return m.result;
    const e = readException(m.result);
    throw new RemoteTaskError(taskId, task, e.type, e.message, e.module, m.traceback, m.status === 'REVOKED' ? 'REVOKED' : 'FAILURE');
  }

  private next(taskId: string, task: string, timeoutMs: number): Promise<ResultMessage> {
    if (this.waiters.has(taskId)) {
      return Promise.reject(new TaskbusError('E_RESULT_AWAITED', `the result of task ${taskId} is already being awaited`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(taskId);
        reject(new ResultTimeoutError(taskId, task, timeoutMs));
      }, timeoutMs);
      this.waiters.set(taskId, { resolve, reject, timer });
    });
  }

  /** Fails every pending wait (the client is closing). */
  close(reason: Error): void {
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(reason);
    }
    this.waiters.clear();
  }
}
