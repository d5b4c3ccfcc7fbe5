import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { encodeTask, type EncodedTask } from './celery/encode.js';
import type { CallOptions } from './celery/message.js';
import {
  BufferFullError,
  ClosedError,
  ContractValidationError,
  PayloadTooLargeError,
  PublishError,
  PublishTimeoutError,
  TopologyError,
  describeCause,
} from './errors.js';
import { createStderrLogger, type Logger } from './logger.js';
import { Reconnector, type ReconnectOptions } from './reconnect.js';
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

export interface ClientOptions extends ReconnectOptions {
  readonly logger?: Logger;
  /** A publish not confirmed by the broker within this time rejects with PublishTimeoutError (default 30 s). */
  readonly confirmTimeoutMs?: number;
  /** Publishes that may wait while disconnected or blocked; beyond it send() rejects with BufferFullError (default 10,000). */
  readonly maxBuffered?: number;
  /** Largest message body sent (default 16 MiB); bigger calls reject with PayloadTooLargeError. */
  readonly maxPayloadBytes?: number;
}

/** Publishes tasks. Each call settles when the broker confirms the message is stored. */
export interface TaskClient {
  send<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, args: A, kwargs: K, options?: CallOptions): Promise<SentTask<R>>;
  close(): Promise<void>;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
const DEFAULT_RESULT_TIMEOUT_MS = 60_000;

/** One publish until the broker confirms it; it survives reconnects and is re-sent with the same task id. */
interface Pending {
  readonly id: string;
  readonly queue: string;
  readonly encoded: EncodedTask;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
  settled: boolean;
}

/**
 * Connects a client. The first connection fails fast with a typed error (unreachable, refused login,
 * TLS); later losses are recovered by themselves, and publishes wait for the new connection.
 */
export async function connectClient(options: ClientOptions = {}): Promise<TaskClient> {
  const client = new AmqpTaskClient(options);
  await client.start();
  return client;
}

class AmqpTaskClient implements TaskClient {
  private readonly log: Logger;
  private readonly reconnector: Reconnector;
  private readonly replyTo = randomUUID();
  private readonly origin = `gen${process.pid}@${hostname()}`;
  private readonly results: ResultListener;
  /** Waiting to be written: while disconnected, blocked, or re-sent after a lost channel. */
  private readonly outbox: Pending[] = [];
  private channel: ConfirmChannel | null = null;
  private declared = new Map<string, Promise<void>>();
  /** Queues declared on the current channel. */
  private ready = new Set<string>();
  /** Ids the broker returned as unroutable on the current channel; their confirm follows the return. */
  private returned = new Set<string>();
  private blocked = false;
  private flushing = false;
  private closed = false;
  private fatal: unknown = null;
  /** Option defaults, resolved once. */
  private readonly limits: { readonly confirmTimeoutMs: number; readonly maxBuffered: number; readonly maxPayloadBytes: number };

  constructor(options: ClientOptions) {
    this.log = options.logger ?? createStderrLogger('taskbus-client');
    this.limits = {
      confirmTimeoutMs: options.confirmTimeoutMs ?? 30_000,
      maxBuffered: options.maxBuffered ?? 10_000,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    };
    this.results = new ResultListener(this.replyTo, this.log);
    this.reconnector = new Reconnector(
      { connectionName: `taskbus client ${process.pid}@${hostname()}`, ...options },
      this.log,
      (c) => this.setup(c),
      () => (this.channel = null),
      (e) => this.failAll(e),
    );
  }

  start(): Promise<void> {
    return this.reconnector.start();
  }

  private async setup(connection: ChannelModel): Promise<void> {
    connection.on('blocked', (reason: unknown) => {
      this.blocked = true;
      this.log.warn('broker blocked publishing (resource alarm); buffering', { reason: String(reason) });
    });
    connection.on('unblocked', () => {
      this.blocked = false;
      this.log.info('broker unblocked publishing');
      void this.flush();
    });
    this.blocked = false;
    await this.results.attach(await connection.createChannel());
    await this.openChannel(connection);
  }

  /** A confirm channel for publishing; replaced when the broker closes it (e.g. after a refused declare). */
  private async openChannel(connection: ChannelModel): Promise<void> {
    const channel = await connection.createConfirmChannel();
    const returned = new Set<string>();
    channel.on('return', (msg: ConsumeMessage) => {
      const id = msg.properties.correlationId as string | undefined;
      if (id) returned.add(id);
    });
    channel.on('error', (e: unknown) => this.log.warn('publish channel error', { error: describeCause(e) }));
    channel.on('close', () => {
      if (this.channel !== channel) return;
      this.channel = null;
      // A dead connection is the reconnector's job; a channel the broker closed on a live one is ours.
      if (!this.closed) this.openChannel(connection).catch(() => undefined);
    });
    this.declared = new Map();
    this.ready = new Set();
    this.returned = returned;
    this.channel = channel;
    void this.flush();
  }

  async send<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, args: A, kwargs: K, options: CallOptions = {}): Promise<SentTask<R>> {
    spec.assertArgs(args, kwargs);
    if (this.closed) throw new ClosedError('task client' + (this.fatal ? ` (${describeCause(this.fatal)})` : ''));
    const queue = options.queue ?? spec.queue;
    const id = options.taskId ?? randomUUID();
    const encoded = encodeTask({ id, task: spec.name, args, kwargs: kwargs as Record<string, unknown>, replyTo: this.replyTo, origin: this.origin, options });
    const { maxPayloadBytes, maxBuffered, confirmTimeoutMs: timeoutMs } = this.limits;
    if (encoded.content.length > maxPayloadBytes) throw new PayloadTooLargeError(spec.name, encoded.content.length, maxPayloadBytes);
    if (this.outbox.length >= maxBuffered) throw new BufferFullError(maxBuffered);

    await new Promise<void>((resolve, reject) => {
      const p: Pending = {
        id,
        queue,
        encoded,
        resolve,
        reject,
        settled: false,
        timer: setTimeout(() => this.settle(p, new PublishTimeoutError(id, timeoutMs)), timeoutMs),
      };
      this.outbox.push(p);
      void this.flush();
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

  private settle(p: Pending, error?: Error): void {
    if (p.settled) return;
    p.settled = true;
    clearTimeout(p.timer);
    const i = this.outbox.indexOf(p);
    if (i >= 0) this.outbox.splice(i, 1);
    if (error) p.reject(error);
    else p.resolve();
  }

  /** Writes the outbox in order while there is an open, unblocked channel. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.outbox.length > 0 && this.channel && !this.blocked) {
        const p = this.outbox[0]!;
        const channel = this.channel;
        try {
          // Declared queues are written to without yielding, so a burst goes out in one tick.
          if (!this.ready.has(p.queue)) await this.declare(channel, p.queue);
        } catch (e) {
          // The broker refusing the declaration is final for this publish; a lost channel is not.
          if (e instanceof TopologyError && typeof (e.cause as { code?: unknown })?.code === 'number') {
            this.settle(p, e);
            continue;
          }
          break; // the replacement channel flushes again
        }
        if (this.channel !== channel || this.outbox[0] !== p) continue;
        this.outbox.shift();
        this.write(channel, p);
      }
    } finally {
      this.flushing = false;
    }
  }

  private write(channel: ConfirmChannel, p: Pending): void {
    const returned = this.returned;
    channel.publish('', p.queue, p.encoded.content, { ...p.encoded.properties, mandatory: true }, (err) => {
      if (returned.delete(p.id)) return this.settle(p, new PublishError(p.id, `no queue "${p.queue}" to route to`));
      if (!err) return this.settle(p);
      // amqplib fails every unconfirmed publish when a channel closes, before our close handler runs:
      // decide once it has, so a lost channel re-sends (same task id) and only a real nack rejects.
      setImmediate(() => {
        if (p.settled) return;
        if (this.channel === channel) return this.settle(p, new PublishError(p.id, 'the broker nacked it', err));
        this.outbox.unshift(p);
        void this.flush();
      });
    });
  }

  private declare(channel: ConfirmChannel, queue: string): Promise<void> {
    let done = this.declared.get(queue);
    if (!done) {
      done = declareCeleryQueue(channel, queue).then(() => void (this.channel === channel && this.ready.add(queue)));
      done.catch(() => this.declared.delete(queue));
      this.declared.set(queue, done);
    }
    return done;
  }

  private failAll(e: unknown): void {
    this.fatal = e;
    this.closed = true;
    for (const p of [...this.outbox]) this.settle(p, e instanceof Error ? e : new Error(String(e)));
    this.results.close(e instanceof Error ? e : new Error(String(e)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Publishes already written get their confirms, but no longer than a confirm may take (a broker
    // blocked by an alarm would otherwise hold close() until the alarm clears).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.channel?.waitForConfirms().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, this.limits.confirmTimeoutMs))),
    ]);
    clearTimeout(timer);
    for (const p of [...this.outbox]) this.settle(p, new ClosedError('task client'));
    this.results.close(new ClosedError('task client'));
    await this.results.detach();
    await this.reconnector.close();
  }
}
