import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import { closeChannel, closeConnection } from './amqp/close.js';
import { publishOwn } from './amqp/publish.js';
import { DLQ_HEADERS, dlqName, republishProperties } from './deadletter.js';
import { describeCause, TaskbusError } from './errors.js';
import type { ConnectOptions } from './connect-options.js';
import { openConnection } from './connection.js';

/** One dead-lettered task, as `taskbus dlq` shows it. */
export interface DeadLetter {
  readonly id: string;
  readonly task: string;
  readonly reason: string;
  readonly error: string;
  readonly failedAt: string;
  /** The queue it came from, and goes back to on replay. */
  readonly queue: string;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly body: Buffer;
}

/** What a replay did: only confirmed and routed copies had their dead letter removed. */
export interface ReplayReport {
  /** Published, confirmed by the broker and routed to their queue; their dead letters are gone. */
  readonly replayed: number;
  /** Still in the dead-letter queue, in place, because the queue they go back to does not exist. */
  readonly kept: number;
  /** The queues those kept dead letters were meant for. */
  readonly missingQueues: readonly string[];
}

export interface DeadLetters {
  /**
   * The dead letters that were in the queue when called, oldest first, one at a time: nothing is
   * removed, and the order in the queue is unchanged afterwards.
   */
  list(): AsyncIterable<DeadLetter>;
  /**
   * Re-publishes all dead letters (or those with the given task id) to their queue with a fresh
   * attempt count, one at a time; each dead letter is removed only once its copy was confirmed and routed.
   */
  replay(id?: string): Promise<ReplayReport>;
  purge(): Promise<number>;
  close(): Promise<void>;
}

/** `<queue>.dlq` does not exist (RabbitMQ answered 404). */
export class NoDeadLetterQueueError extends TaskbusError {
  constructor(queue: string, cause: unknown) {
    super('E_NO_DLQ', `there is no dead-letter queue "${dlqName(queue)}" (nothing was ever dead-lettered from "${queue}")`, { cause });
  }
}

/** The user in AMQP_URL may not read (or purge, or replay from) the dead-letter queue (RabbitMQ answered 403). */
export class DeadLetterAccessError extends TaskbusError {
  constructor(queue: string, cause: unknown) {
    super(
      'E_DLQ_ACCESS_REFUSED',
      `RabbitMQ refused access to "${dlqName(queue)}" (${brokerText(cause)}); give the user in AMQP_URL read ` +
        'permission on it (and write permission on the default exchange, to replay), e.g. with `rabbitmqctl set_permissions`',
      { cause },
    );
  }
}

/** Any other refusal by the broker while working on the dead-letter queue. */
export class DeadLetterQueueError extends TaskbusError {
  constructor(queue: string, doing: string, cause: unknown) {
    super('E_DLQ_BROKER', `cannot ${doing} "${dlqName(queue)}": ${brokerText(cause)}`, { cause });
  }
}

/** Some dead letters could not be replayed because the queue they belong to is missing; they were kept. */
export class ReplayUnroutableError extends TaskbusError {
  constructor(
    queue: string,
    readonly report: ReplayReport,
  ) {
    const missing = report.missingQueues.map((q) => `"${q}"`).join(', ');
    super(
      'E_REPLAY_UNROUTABLE',
      `kept ${report.kept} dead letter${report.kept === 1 ? '' : 's'} in "${dlqName(queue)}": no queue ${missing} to replay into ` +
        '(start its worker or declare it, then replay again)',
    );
  }
}

/**
 * amqplib rejects with an Error carrying `code` when the broker closes the channel during an RPC, but
 * with the bare close frame (`fields.replyCode`) for `get`; both are read here.
 */
function replyCode(e: unknown): number | undefined {
  const o = e as { code?: unknown; fields?: { replyCode?: unknown } } | null;
  const code = o?.code ?? o?.fields?.replyCode;
  return typeof code === 'number' ? code : undefined;
}

function brokerText(e: unknown): string {
  const text = (e as { fields?: { replyText?: unknown } } | null)?.fields?.replyText;
  return typeof text === 'string' ? `${replyCode(e)} ${text}` : describeCause(e);
}

/** The typed error for a broker refusal while doing something to the dead-letter queue of `queue`. */
function refusal(queue: string, doing: string, e: unknown): TaskbusError {
  if (e instanceof TaskbusError) return e;
  switch (replyCode(e)) {
    case 404:
      return new NoDeadLetterQueueError(queue, e);
    case 403:
      return new DeadLetterAccessError(queue, e);
    default:
      return new DeadLetterQueueError(queue, doing, e);
  }
}

function toDeadLetter(m: GetMessage, queue: string): DeadLetter {
  const h = (m.properties.headers ?? {}) as Record<string, unknown>;
  const text = (k: string, fallback = '') => (typeof h[k] === 'string' ? (h[k] as string) : fallback);
  const death = brokerDeath(h);
  return {
    id: text('id', String(m.properties.correlationId ?? '')),
    task: text('task', '(no task header)'),
    reason: text(DLQ_HEADERS.reason) || death?.reason || '(unknown)',
    error: text(DLQ_HEADERS.error) || death?.error || '',
    failedAt: text(DLQ_HEADERS.failedAt) || (death?.time ?? ''),
    queue: text(DLQ_HEADERS.queue, queue),
    contentType: String(m.properties.contentType ?? ''),
    headers: h,
    body: m.content,
  };
}

/**
 * The broker's own dead-lettering of a message (its `x-death` entry), for messages RabbitMQ moved itself: a
 * quorum task queue dead-letters a message past its delivery limit without taskbus's headers.
 */
function brokerDeath(h: Readonly<Record<string, unknown>>): { reason: string; error: string; time: string } | undefined {
  const deaths = h['x-death'];
  const first = Array.isArray(deaths) ? (deaths[0] as Record<string, unknown> | undefined) : undefined;
  if (typeof first?.['reason'] !== 'string') return undefined;
  const time = first['time'] as { value?: unknown } | number | undefined;
  const seconds = typeof time === 'number' ? time : typeof time?.value === 'number' ? time.value : undefined;
  const reason = first['reason'].replaceAll('_', '-');
  const error =
    reason === 'delivery-limit'
      ? 'dead-lettered by the broker past the queue\'s x-delivery-limit: the task kept killing or losing its worker'
      : `dead-lettered by the broker (${reason})`;
  return { reason, error, time: seconds === undefined ? '' : new Date(seconds * 1000).toISOString() };
}

/** Publishes and resolves on the broker's confirm of this one message (rejects on a nack or a closed channel). */
function publishConfirmed(channel: ConfirmChannel, queue: string, content: Buffer, properties: object): Promise<void> {
  return new Promise((resolve, reject) => {
    publishOwn(channel, '', queue, content, { ...properties, mandatory: true }, (err: unknown) => (err ? reject(err) : resolve()));
  });
}

/** Opens the dead-letter queue `<queue>.dlq` for inspection and replay. */
export async function openDeadLetters(queue: string, options: ConnectOptions = {}): Promise<DeadLetters> {
  const connection = await openConnection({ connectionName: `taskbus dlq ${queue}`, ...options });
  const dlq = dlqName(queue);

  /** A channel whose broker-side close becomes the rejection of the call that caused it, not an 'error' event. */
  async function channel<C extends Channel>(open: () => Promise<C>): Promise<C> {
    const c = await open();
    c.on('error', () => undefined);
    return c;
  }

  /**
   * Takes, unacked, each message that was ready when called, in queue order, one at a time. The
   * messages stay on the broker; this process holds one at a time. Nothing is given back before the
   * end: a message handed back returns to its place at the head, so the next get would read it again.
   * Stopping at the count seen at start keeps messages that arrive meanwhile out of this pass. Closing
   * `reader` puts every message not acked back where it was.
   */
  async function* take(reader: Channel): AsyncGenerator<GetMessage> {
    const { messageCount } = await reader.checkQueue(dlq);
    for (let i = 0; i < messageCount; i++) {
      const m = await reader.get(dlq, { noAck: false });
      if (m === false) return;
      yield m;
    }
  }

  try {
    const probe = await channel(() => connection.createChannel());
    await probe.checkQueue(dlq);
    await closeChannel(probe);
  } catch (e) {
    await closeConnection(connection);
    throw refusal(queue, 'open', e);
  }

  return {
    async *list() {
      const reader = await channel(() => connection.createChannel());
      try {
        for await (const m of take(reader)) yield toDeadLetter(m, queue);
      } catch (e) {
        throw refusal(queue, 'read', e);
      } finally {
        await closeChannel(reader);
      }
    },
    async replay(id) {
      const reader = await channel(() => connection.createChannel());
      const publisher = await channel(() => connection.createConfirmChannel());
      // The broker sends a mandatory message's return before its confirm, and one message is in flight
      // at a time, so a return seen before the confirm is that message's.
      let returned = false;
      publisher.on('return', () => (returned = true));
      let replayed = 0;
      let kept = 0;
      const missingQueues = new Set<string>();
      try {
        for await (const m of take(reader)) {
          const d = toDeadLetter(m, queue);
          if (id !== undefined && d.id !== id) continue;
          const headers = Object.fromEntries(Object.entries(d.headers).filter(([k]) => !k.startsWith('x-taskbus-')));
          returned = false;
          await publishConfirmed(publisher, d.queue, m.content, republishProperties(m.properties, { ...headers, retries: 0 }));
          if (returned) {
            kept++;
            missingQueues.add(d.queue);
          } else {
            reader.ack(m);
            replayed++;
          }
        }
      } catch (e) {
        throw refusal(queue, `replay (after ${replayed} replayed) from`, e);
      } finally {
        await closeChannel(publisher);
        await closeChannel(reader);
      }
      return { replayed, kept, missingQueues: [...missingQueues] };
    },
    async purge() {
      const c = await channel(() => connection.createChannel());
      try {
        return (await c.purgeQueue(dlq)).messageCount;
      } catch (e) {
        throw refusal(queue, 'purge', e);
      } finally {
        await closeChannel(c);
      }
    },
    close: () => closeConnection(connection),
  };
}
