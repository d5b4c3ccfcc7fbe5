import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Registry } from 'prom-client';
import { SHORTSTR_MAX } from './amqp/frame-writer.js';
import { messageSizeLimit } from './amqp/message-size.js';
import { publishEncoded, UnencodableMessageError } from './amqp/publish.js';
import { encodeTask, type EncodedTask } from './celery/encode.js';
import type { CallOptions } from './celery/message.js';
import {
  BufferFullError,
  ClosedError,
  ContractValidationError,
  PayloadTooLargeError,
  PublishError,
  PublishTimeoutError,
  ResultUnavailableError,
  TopologyError,
  describeCause,
} from './errors.js';
import { runtimeLogger, type Logger } from './logger.js';
import type { MetricsOptions } from './metrics/options.js';
import { newRegistry, registerClientStats } from './metrics/registry.js';
import { ClientStats } from './metrics/stats.js';
import type { ReconnectOptions } from './connect-options.js';
import { CLOSE_GRACE_MS } from './amqp/close.js';
import { MAX_TIMER_MS, settlesWithin } from './clock.js';
import { backoffDelay, Reconnector } from './reconnect.js';
import { ChannelKeeper } from './channel-keeper.js';
import { ResultStore, type ResultTicket } from './result-store.js';
import { ResultListener } from './results.js';
import type { TaskSpec } from './task.js';
import { Declarer } from './topology/declarer.js';
import type { QueueType } from './topology/queue-type.js';
import { PublishRoutes, type Route } from './topology/routes.js';
import { startPublish } from './tracing.js';

/** What a call returns once the broker has confirmed it holds the task. */
export interface SentTask<R> {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  /**
   * Waits for the worker's reply (Python or TypeScript, Celery's rpc format) and checks it against the
   * contract. Rejects with RemoteTaskError when the task failed or was revoked, ResultTimeoutError when
   * no final reply came within `timeoutMs` (default 60 s; calling again waits again), and
   * ResultUnavailableError when the reply was not kept (see `resultTtlMs`, `maxUnclaimedBytes`) or the
   * task was sent with `ignoreResult`. Once the outcome is known, every call gives the same one.
   */
  result(options?: { readonly timeoutMs?: number }): Promise<R>;
}

export interface ClientOptions extends ReconnectOptions {
  /** Default: stderr, text or JSON as LOG_FORMAT says, from LOG_LEVEL up (see loggerFromEnv), broker credentials hidden. */
  readonly logger?: Logger;
  /**
   * A publish not confirmed by the broker within this time rejects with PublishTimeoutError (default 30 s).
   * One the broker nacks (a full queue, a quorum queue electing its leader) is sent again with backoff
   * until then, and rejects with PublishError if it is still nacked.
   */
  readonly confirmTimeoutMs?: number;
  /**
   * Publishes not yet confirmed by the broker (waiting to be written, or written and unconfirmed); beyond it
   * send() rejects with BufferFullError (default 10,000).
   */
  readonly maxBuffered?: number;
  /** Bytes of those publishes' bodies; beyond it send() rejects with BufferFullError (default 64 MiB). */
  readonly maxBufferedBytes?: number;
  /** Largest message body sent (default 16 MiB); bigger calls reject with PayloadTooLargeError. */
  readonly maxPayloadBytes?: number;
  /**
   * How long a reply nobody asked for yet is kept, and how long a sent task's reply is waited for when
   * nobody is waiting (default 1 hour). Past it result() rejects with ResultUnavailableError.
   */
  readonly resultTtlMs?: number;
  /** Bytes of replies nobody asked for yet; the oldest are dropped (and logged) past it (default 64 MiB). */
  readonly maxUnclaimedBytes?: number;
  /** Prometheus metrics (prom-client): published, confirmed, returned, buffered, reconnects. */
  readonly metrics?: MetricsOptions;
}

/** Publishes tasks. Each call settles when the broker confirms the message is stored. */
export interface TaskClient {
  send<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, args: A, kwargs: K, options?: CallOptions): Promise<SentTask<R>>;
  close(): Promise<void>;
  /** The registry holding this client's metrics when `metrics` was given; else null. */
  readonly metricsRegistry: Registry | null;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** How long a reply waits to be claimed, and how many bytes of unclaimed replies are kept (ClientOptions). */
export const DEFAULT_RESULT_LIMITS = { ttlMs: 3_600_000, maxUnclaimedBytes: 64 * 1024 * 1024 } as const;
const DEFAULT_RESULT_TIMEOUT_MS = 60_000;
const MIB = 1024 * 1024;

/** One publish until the broker confirms it; it survives lost channels and is re-sent with the same task id. */
interface Pending {
  readonly id: string;
  /** Celery task name, for logs. */
  readonly task: string;
  readonly queue: string;
  readonly queueType: QueueType;
  /** When the task is due (countdown or eta), in ms since the epoch; null to run at once. */
  readonly dueAt: number | null;
  readonly encoded: EncodedTask;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  /** When it rejects unconfirmed (ms since the epoch): sent plus confirmTimeoutMs, so pending is in deadline order. */
  readonly deadline: number;
  /** The channel it was last written on, while unconfirmed there. */
  lane: Lane | null;
  settled: boolean;
  /** Returned once as unroutable and sent again after declaring its queue, as Celery declares on publish. */
  redeclared: boolean;
  /** Times the broker nacked it: it is sent again, with backoff, until its confirm timeout. */
  nacks: number;
}

/** One publish channel and what is tied to it; a reopened channel starts a fresh lane. */
interface Lane {
  readonly channel: ConfirmChannel;
  /** Ids the broker returned as unroutable; their confirm follows the return. */
  readonly returned: Set<string>;
  /** Written and not yet confirmed, in write order: re-sent in that order if the channel dies. */
  readonly unconfirmed: Set<Pending>;
  /** publish() returned false: nothing more is written until the channel's 'drain'. */
  draining: boolean;
  /** Nacks since the last confirm: a channel that only gets nacks is reopened (see nacked()). */
  nacksInARow: number;
  /** Why the broker closed it, if it did. */
  closedBy: unknown;
}

/**
 * Nacks in a row after which the publish channel is reopened: RabbitMQ 3.10 may go on nacking every
 * publish of a channel that began publishing to a quorum queue while it had no leader, until the old
 * leader is back; a fresh channel finds the new one.
 */
const REOPEN_AFTER_NACKS = 50;

/** Who sends a call: its reply queue, Celery's `origin`, and checks and clock of the client sending it. */
export interface Caller {
  readonly replyTo: string;
  readonly origin: string;
  /** Throws when the client cannot send (closed); run after the contract check, before encoding. */
  readonly assertOpen?: () => void;
  /** The clock countdown and expires count from (default: the system's). */
  readonly now?: () => number;
  /** Encoded bodies above this are refused (PayloadTooLargeError), nothing sent. */
  readonly maxPayloadBytes: number;
}

/** A call checked against its contract and encoded, ready for a transport. */
export interface PreparedCall {
  readonly id: string;
  readonly queue: string;
  readonly encoded: EncodedTask;
}

/**
 * What every TaskClient does with a call before sending it (the AMQP client and the test harness's): checks
 * the arguments against the contract (ContractValidationError, nothing sent), then encodes the Celery
 * protocol v2 message and refuses one over the caller's payload limit.
 */
export function prepareCall<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, args: A, kwargs: K, options: CallOptions, caller: Caller): PreparedCall {
  spec.assertArgs(args, kwargs);
  caller.assertOpen?.();
  const queue = options.queue ?? spec.queue;
  const id = options.taskId ?? randomUUID();
  // Refused up front: declaring such a queue fails on our side, not the broker's, so nothing would ever
  // send the call, and the calls behind it would wait for its confirm timeout.
  const queueBytes = Buffer.byteLength(queue);
  if (queueBytes > SHORTSTR_MAX) throw new TopologyError(queue, new Error(`the name is ${queueBytes} bytes; AMQP allows ${SHORTSTR_MAX}`));
  const task = { id, task: spec.name, args, kwargs: kwargs as Record<string, unknown>, replyTo: caller.replyTo, origin: caller.origin, options };
  const encoded = encodeTask(task, caller.now ? new Date(caller.now()) : undefined);
  const bytes = encoded.content.length;
  if (bytes > caller.maxPayloadBytes) throw new PayloadTooLargeError(spec.name, bytes, caller.maxPayloadBytes);
  return { id, queue, encoded };
}

/**
 * The SentTask of a sent call: result() claims its reply from `results` (null ticket: sent with ignoreResult)
 * and checks it against the contract.
 */
export function sentTask<R>(spec: TaskSpec<readonly unknown[], object, R>, id: string, queue: string, results: ResultStore, ticket: ResultTicket | null): SentTask<R> {
  let outcome: Promise<R> | undefined;
  return {
    id,
    task: spec.name,
    queue,
    result: ({ timeoutMs = DEFAULT_RESULT_TIMEOUT_MS } = {}) => {
      if (!ticket) return Promise.reject(new ResultUnavailableError(id, spec.name, 'ignored'));
      // One outcome per task, shared by every call: a second result() gets the same value or error.
      outcome ??= results.claim(ticket).then((value) => {
        const issues = spec.checkResult(value);
        if (issues.length > 0) throw new ContractValidationError(spec.name, issues, 'result');
        return value as R;
      });
      outcome.catch(() => undefined); // read by result() callers; may settle while none is waiting
      return results.within(ticket, outcome, timeoutMs);
    },
  };
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
  private readonly results: ResultStore;
  private readonly replies: ResultListener;
  /** Waiting to be written: while disconnected, blocked, draining, or re-sent after a lost channel. */
  private readonly outbox: Pending[] = [];
  /** Everything not yet confirmed (outbox and written): what maxBuffered and maxBufferedBytes bound. */
  private readonly pending = new Set<Pending>();
  private pendingBytes = 0;
  /**
   * One timer for the earliest deadline in pending, rather than one per publish; left to fire when pending
   * empties (it then does nothing), so calls one at a time do not each start and clear one. Unref'd: while
   * publishes are pending, the connection keeps the process alive.
   */
  private deadlineTimer: NodeJS.Timeout | null = null;
  private lane: Lane | null = null;
  /** The queues learnt on the current connection: once known, written to without yielding, so a burst goes out in one tick. */
  private routes: PublishRoutes | null = null;
  private blocked = false;
  /** The broker's max_message_size once a message over it was refused; learnt again on each connection (another node may differ). */
  private brokerMaxBytes: number | null = null;
  private flushing = false;
  private closed = false;
  private fatal: unknown = null;
  private readonly stats = new ClientStats(() => this.pending.size);
  private connectedBefore = false;
  private registry: Registry | null = null;
  /** Option defaults, resolved once. */
  private readonly limits: {
    readonly confirmTimeoutMs: number;
    readonly maxBuffered: number;
    readonly maxBufferedBytes: number;
  };
  /** What prepareCall needs of this client, made once rather than per send. */
  private readonly caller: Caller;

  constructor(private readonly options: ClientOptions) {
    this.log = options.logger ?? runtimeLogger('taskbus-client', options.url);
    this.limits = {
      confirmTimeoutMs: options.confirmTimeoutMs ?? 30_000,
      maxBuffered: options.maxBuffered ?? 10_000,
      maxBufferedBytes: options.maxBufferedBytes ?? 64 * MIB,
    };
    this.caller = {
      replyTo: this.replyTo,
      origin: this.origin,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      assertOpen: () => {
        if (this.closed) throw new ClosedError('task client' + (this.fatal ? ` (${describeCause(this.fatal)})` : ''));
      },
    };
    this.results = new ResultStore(
      { ttlMs: options.resultTtlMs ?? DEFAULT_RESULT_LIMITS.ttlMs, maxUnclaimedBytes: options.maxUnclaimedBytes ?? DEFAULT_RESULT_LIMITS.maxUnclaimedBytes },
      this.log,
    );
    this.replies = new ResultListener(this.replyTo, this.results, this.log, options.reconnect);
    this.reconnector = new Reconnector(
      { connectionName: `taskbus client ${process.pid}@${hostname()}`, ...options },
      this.log,
      (c) => this.setup(c),
      () => undefined, // the publish channel's close, which comes with the connection's, re-queues its publishes
      (e) => this.failAll(e),
    );
  }

  async start(): Promise<void> {
    const metrics = this.options.metrics;
    if (metrics) {
      this.registry = metrics.registry ?? (await newRegistry());
      await registerClientStats(this.registry, this.stats);
    }
    return this.reconnector.start();
  }

  get metricsRegistry(): Registry | null {
    return this.registry;
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
    this.brokerMaxBytes = null;
    this.routes = new PublishRoutes(new Declarer(connection), this.log);
    await this.replies.attach(connection);
    // A channel the broker closes on a live connection (a refused declare) is reopened by the keeper.
    await new ChannelKeeper<ConfirmChannel>(connection, {
      name: 'client publish channel',
      create: (c) => c.createConfirmChannel(),
      setup: async () => undefined, // queues are learnt on first use, per connection
      onOpened: (channel) => this.openLane(channel),
      onClosed: (channel) => this.closeLane(channel),
      log: this.log,
      ...(this.options.reconnect ? { backoff: this.options.reconnect } : {}),
    }).open();
    if (this.connectedBefore) this.stats.reconnects++;
    this.connectedBefore = true;
  }

  private openLane(channel: ConfirmChannel): void {
    const lane: Lane = { channel, returned: new Set(), unconfirmed: new Set(), draining: false, nacksInARow: 0, closedBy: null };
    channel.on('error', (e: unknown) => (lane.closedBy = e)); // amqplib reports it just before the close
    channel.on('return', (msg: ConsumeMessage) => {
      const id = msg.properties.correlationId as string | undefined;
      this.stats.returned++;
      if (id) lane.returned.add(id);
    });
    channel.on('drain', () => {
      lane.draining = false;
      void this.flush();
    });
    this.lane = lane;
    void this.flush();
  }

  /** Publishes written on a lost channel go back to the front of the outbox, in the order they were written. */
  private closeLane(channel: ConfirmChannel): void {
    const lane = this.lane;
    if (lane?.channel !== channel) return;
    this.lane = null;
    this.routes?.forgetDelays();
    // A message over the broker's max_message_size closes the channel each time it is sent: re-sent with the
    // others, it would close every new channel and hold every publish until its confirm timeout.
    const limit = messageSizeLimit(lane.closedBy);
    if (limit !== null) {
      this.brokerMaxBytes = limit;
      for (const p of lane.unconfirmed) if (p.encoded.content.length > limit) this.settle(p, this.overBrokerLimit(p, limit));
    }
    const resend = [...lane.unconfirmed];
    if (resend.length === 0) return;
    for (const p of resend) p.lane = null;
    this.outbox.unshift(...resend);
    this.log.warn('publish channel lost with publishes unconfirmed; re-sending them with the same task ids', { count: resend.length });
  }

  async send<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>, args: A, kwargs: K, options: CallOptions = {}): Promise<SentTask<R>> {
    const { id, queue, encoded } = prepareCall(spec, args, kwargs, options, this.caller);
    const { maxBuffered, maxBufferedBytes, confirmTimeoutMs: timeoutMs } = this.limits;
    const bytes = encoded.content.length;
    if (this.pending.size >= maxBuffered) throw new BufferFullError(maxBuffered);
    if (this.pendingBytes + bytes > maxBufferedBytes) throw new BufferFullError(maxBufferedBytes, 'bytes');

    // Before anything is written: the span's context goes into the headers; it ends with the broker's confirm.
    const span = startPublish(encoded.wireHeaders.varying, spec.name, id, queue, bytes);
    // Registered before it is written: a worker may reply before the broker's confirm reaches us.
    const ticket = options.ignoreResult ? null : this.results.expect(id, spec.name);
    try {
      await new Promise<void>((resolve, reject) => {
        const p: Pending = {
          id,
          task: spec.name,
          queue,
          queueType: spec.queueType,
          dueAt: encoded.eta?.getTime() ?? null,
          encoded,
          resolve,
          reject,
          lane: null,
          settled: false,
          redeclared: false,
          nacks: 0,
          deadline: Date.now() + timeoutMs,
        };
        this.pending.add(p);
        this.armDeadline();
        this.pendingBytes += bytes;
        this.outbox.push(p);
        void this.flush();
      });
    } catch (e) {
      if (ticket) this.results.forget(ticket);
      span?.end(e);
      throw e;
    }
    span?.end();
    return sentTask(spec, id, queue, this.results, ticket);
  }

  private settle(p: Pending, error?: Error): void {
    if (p.settled) return;
    p.settled = true;
    this.pending.delete(p);
    this.pendingBytes -= p.encoded.content.length;
    p.lane?.unconfirmed.delete(p);
    const i = this.outbox.indexOf(p);
    if (i >= 0) this.outbox.splice(i, 1);
    if (error) p.reject(error);
    else p.resolve();
  }

  private armDeadline(): void {
    if (this.deadlineTimer) return;
    const first = this.pending.values().next();
    if (first.done) return;
    // Capped: Node fires a longer delay (an Infinity timeout) after 1 ms, and expire() would re-arm it every ms.
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = null;
      this.expire();
    }, Math.min(first.value.deadline - Date.now(), MAX_TIMER_MS)).unref();
  }

  /** Publishes still unconfirmed at their deadline reject: PublishError if the broker nacked them, else a timeout. */
  private expire(): void {
    const now = Date.now();
    const { confirmTimeoutMs: ms } = this.limits;
    for (const p of this.pending) {
      if (p.deadline > now) break;
      this.settle(p, p.nacks ? new PublishError(p.id, `the broker nacked it ${p.nacks} times in ${ms} ms (queue full, or without a leader)`) : new PublishTimeoutError(p.id, ms));
    }
    this.armDeadline();
  }

  /** Writes the outbox in order while there is an open, unblocked channel that is not draining. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        const lane = this.lane;
        if (!lane || lane.draining || this.blocked || this.outbox.length === 0) break;
        const p = this.outbox[0]!;
        const routes = this.routes;
        const route = routes?.route(p.queue, p.dueAt);
        if (!route) {
          try {
            await routes?.prepare(p.queue, p.queueType, p.dueAt !== null);
          } catch (e) {
            // The broker refusing the declaration is final for this publish; a lost channel is not.
            if (e instanceof TopologyError && typeof (e.cause as { code?: unknown })?.code === 'number') this.settle(p, e);
            else if (this.lane === lane) break; // not refused, yet the channel lives: its close follows and flushes again
          }
          continue; // the lane and the head may have changed meanwhile
        }
        this.outbox.shift();
        this.write(lane, p, route);
      }
    } finally {
      this.flushing = false;
    }
  }

  private overBrokerLimit(p: Pending, limit: number): PublishError {
    return new PublishError(p.id, `its body of ${p.encoded.content.length} bytes is over the broker's max_message_size of ${limit} bytes, so nothing was stored; set maxPayloadBytes to at most ${limit} to refuse such calls before sending`);
  }

  private write(lane: Lane, p: Pending, route: Route): void {
    if (this.brokerMaxBytes !== null && p.encoded.content.length > this.brokerMaxBytes) return this.settle(p, this.overBrokerLimit(p, this.brokerMaxBytes));
    p.lane = lane;
    lane.unconfirmed.add(p);
    try {
      const e = p.encoded;
      const message = { exchange: route.exchange, routingKey: route.routingKey, mandatory: true, properties: e.properties, headers: e.wireHeaders, content: e.content };
      const more = publishEncoded(lane.channel, message, (err) => {
        if (p.settled || p.lane !== lane) return;
        if (lane.returned.delete(p.id)) return this.unroutable(lane, p);
        if (!err) {
          lane.nacksInARow = 0;
          this.stats.confirmed++;
          return this.settle(p);
        }
        // amqplib fails every unconfirmed publish when a channel closes, just before the close is reported:
        // decide once it has, so a lost channel re-sends (closeLane) and only a real nack rejects.
        setImmediate(() => {
          if (!p.settled && p.lane === lane && this.lane === lane) this.nacked(lane, p, err);
        });
      });
      lane.draining = !more;
      this.stats.published++;
    } catch (e) {
      // Nothing was written and the channel is fine: only this publish fails (marking the lane draining
      // would wait for a 'drain' that never comes, and every later send would time out behind it).
      if (e instanceof UnencodableMessageError) return this.settle(p, new PublishError(p.id, `it cannot be sent over AMQP (${e.message}); nothing was sent`));
      // The channel is closing: its close re-sends this publish with the others it holds.
      this.log.warn('publish channel refused a write while closing', { error: describeCause(e) });
      lane.draining = true;
    }
  }

  /**
   * The broker could not store it (a quorum queue without a leader during an election, a full queue with
   * `reject-publish`): usually for a while only, so it is sent again with backoff until its confirm
   * timeout, then rejected with PublishError.
   */
  private nacked(lane: Lane, p: Pending, err: unknown): void {
    lane.unconfirmed.delete(p);
    p.lane = null;
    if (p.nacks++ === 0) this.log.warn('publish nacked by the broker; sending it again until confirmTimeoutMs', { queue: p.queue, task: p.task, id: p.id, error: describeCause(err) });
    if (++lane.nacksInARow === REOPEN_AFTER_NACKS) {
      this.log.warn('publish channel gets only nacks; reopening it', { nacks: REOPEN_AFTER_NACKS });
      lane.channel.close().catch(() => undefined); // its close re-sends what it holds; the keeper reopens it
    }
    setTimeout(() => {
      if (p.settled) return;
      this.outbox.unshift(p);
      void this.flush();
    }, backoffDelay(p.nacks, { initialMs: 100, maxMs: 2000 })).unref();
  }

  /** Its queue was deleted since it was declared: declare it again and send once more, then give up. */
  private unroutable(lane: Lane, p: Pending): void {
    this.routes?.forget(p.queue);
    if (p.redeclared) return this.settle(p, new PublishError(p.id, `no queue "${p.queue}" to route to`));
    this.log.warn('publish unroutable (queue deleted?); declaring it again and re-sending', { queue: p.queue, task: p.task, id: p.id });
    p.redeclared = true;
    lane.unconfirmed.delete(p);
    p.lane = null;
    this.outbox.unshift(p);
    void this.flush();
  }

  private failAll(e: unknown): void {
    this.fatal = e;
    this.closed = true;
    const error = e instanceof Error ? e : new Error(String(e));
    for (const p of [...this.pending]) this.settle(p, error);
    this.results.close(error);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Publishes already written get their confirms, but no longer than a confirm may take (a broker
    // blocked by an alarm would otherwise hold close() until the alarm clears).
    await settlesWithin(this.lane?.channel.waitForConfirms().catch(() => undefined) ?? Promise.resolve(), this.limits.confirmTimeoutMs);
    for (const p of [...this.pending]) this.settle(p, new ClosedError('task client'));
    this.results.close(new ClosedError('task client'));
    // A broker that stopped reading answers neither the reply queue's delete nor the close: together they
    // get CLOSE_GRACE_MS, then the connection is dropped.
    const until = Date.now() + CLOSE_GRACE_MS;
    await settlesWithin(this.replies.detach(), CLOSE_GRACE_MS);
    await this.reconnector.close(until - Date.now());
  }
}
