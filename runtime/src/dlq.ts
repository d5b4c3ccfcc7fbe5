import type { GetMessage } from 'amqplib';
import { DLQ_HEADERS, dlqName, republishProperties } from './deadletter.js';
import { TaskbusError } from './errors.js';
import { openConnection, type ConnectOptions } from './connection.js';

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

export interface DeadLetters {
  list(): Promise<DeadLetter[]>;
  /** Re-publishes all dead letters (or those with the given task id) to their queue with a fresh attempt count. */
  replay(id?: string): Promise<number>;
  purge(): Promise<number>;
  close(): Promise<void>;
}

function toDeadLetter(m: GetMessage, queue: string): DeadLetter {
  const h = (m.properties.headers ?? {}) as Record<string, unknown>;
  const text = (k: string, fallback = '') => (typeof h[k] === 'string' ? (h[k] as string) : fallback);
  return {
    id: text('id', String(m.properties.correlationId ?? '')),
    task: text('task', '(no task header)'),
    reason: text(DLQ_HEADERS.reason, '(unknown)'),
    error: text(DLQ_HEADERS.error),
    failedAt: text(DLQ_HEADERS.failedAt),
    queue: text(DLQ_HEADERS.queue, queue),
    contentType: String(m.properties.contentType ?? ''),
    headers: h,
    body: m.content,
  };
}

/** Opens the dead-letter queue `<queue>.dlq` for inspection and replay. */
export async function openDeadLetters(queue: string, options: ConnectOptions = {}): Promise<DeadLetters> {
  const connection = await openConnection({ connectionName: `taskbus dlq ${queue}`, ...options });
  const dlq = dlqName(queue);
  try {
    const probe = await connection.createChannel();
    probe.on('error', () => undefined); // a missing queue closes the channel; the rejection below says so
    await probe.checkQueue(dlq);
    await probe.close();
  } catch (e) {
    await connection.close().catch(() => undefined);
    throw new TaskbusError('E_NO_DLQ', `there is no dead-letter queue "${dlq}" (nothing was ever dead-lettered from "${queue}")`, { cause: e });
  }

  /**
   * Takes every message unacked on a fresh channel, lets `use` decide which to ack, then closes the
   * channel: the broker puts the rest back where they were.
   */
  async function each(use: (messages: GetMessage[]) => Promise<GetMessage[]>): Promise<number> {
    const channel = await connection.createConfirmChannel();
    try {
      const messages: GetMessage[] = [];
      for (let m = await channel.get(dlq, { noAck: false }); m; m = await channel.get(dlq, { noAck: false })) messages.push(m);
      const done = await use(messages);
      for (const m of done) channel.ack(m);
      return done.length;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  return {
    async list() {
      const found: DeadLetter[] = [];
      await each(async (messages) => {
        found.push(...messages.map((m) => toDeadLetter(m, queue)));
        return [];
      });
      return found;
    },
    replay(id) {
      return each(async (messages) => {
        const chosen = messages.filter((m) => id === undefined || toDeadLetter(m, queue).id === id);
        const channel = await connection.createConfirmChannel();
        const unroutable = new Set<string>();
        channel.on('return', (r: GetMessage) => unroutable.add(String(r.fields.routingKey)));
        try {
          for (const m of chosen) {
            const d = toDeadLetter(m, queue);
            const headers = Object.fromEntries(Object.entries(d.headers).filter(([k]) => !k.startsWith('x-taskbus-')));
            channel.publish('', d.queue, m.content, { ...republishProperties(m.properties, { ...headers, retries: 0 }), mandatory: true });
          }
          await channel.waitForConfirms();
          if (unroutable.size > 0) {
            throw new TaskbusError('E_REPLAY_UNROUTABLE', `no queue ${[...unroutable].join(', ')} to replay into; the dead letters were kept`);
          }
        } finally {
          await channel.close().catch(() => undefined);
        }
        return chosen;
      });
    },
    async purge() {
      const channel = await connection.createChannel();
      const { messageCount } = await channel.purgeQueue(dlq);
      await channel.close();
      return messageCount;
    },
    close: () => connection.close(),
  };
}
