import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { RemoteTaskError, TaskbusError, type Logger, type TaskClient } from '@taskbus/runtime';

export const AMQP_URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A plain amqplib connection, for publishing and inspecting as an outside client would. */
export async function rawBroker(url = AMQP_URL): Promise<{ connection: ChannelModel; channel: Channel; close(): Promise<void> }> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  return { connection, channel, close: () => connection.close() };
}

/** A queue name no other test or run uses. */
export function uniqueQueue(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface LogRecord {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** A logger that keeps what it is told, so tests can assert on refusals. */
export function recordingLogger(): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at = (level: LogRecord['level']) => (message: string, fields: Readonly<Record<string, unknown>> = {}) => {
    records.push({ level, message, fields });
  };
  return { records, info: at('info'), warn: at('warn'), error: at('error') };
}

/** Removes what a test declared for each queue: the queue, its dead-letter queue and its exchange. */
export async function deleteQueues(...queues: string[]): Promise<void> {
  const raw = await rawBroker();
  for (const q of queues) {
    await raw.channel.deleteQueue(q);
    await raw.channel.deleteQueue(`${q}.dlq`);
    await raw.channel.deleteExchange(q);
  }
  await raw.close();
}

/** Messages ready in a queue, or undefined while it does not exist (probed on a throwaway channel). */
export async function queueDepth(raw: { connection: ChannelModel }, queue: string): Promise<number | undefined> {
  const channel = await raw.connection.createChannel();
  channel.on('error', () => undefined); // a missing queue closes the channel with 404
  try {
    return (await channel.checkQueue(queue)).messageCount;
  } catch {
    return undefined;
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/** The virtual host of AMQP_URL, for `rabbitmqctl -p`. */
export const VHOST = ((path: string) => (path ? decodeURIComponent(path) : '/'))(new URL(AMQP_URL).pathname.slice(1));

/**
 * A virtual host of the test's own, for faults that must delete shared things (Celery's delay levels):
 * nothing another test or a local Celery fleet uses is touched. `remove()` deletes it with all it holds.
 */
export function scratchVhost(prefix: string): { readonly url: string; remove(): void } {
  const name = uniqueQueue(prefix);
  const ctl = (...args: string[]) => execFileSync('rabbitmqctl', args, { encoding: 'utf8', timeout: 60_000 });
  ctl('add_vhost', name);
  ctl('set_permissions', '-p', name, new URL(AMQP_URL).username || 'guest', '.*', '.*', '.*');
  const url = new URL(AMQP_URL);
  url.pathname = `/${encodeURIComponent(name)}`;
  return { url: url.toString(), remove: () => void ctl('delete_vhost', name) };
}

/** A declaration on a throwaway channel, as another client would make it: 'ok', or the broker's refusal (e.g. a 406). */
export async function declareOutcome(raw: { connection: ChannelModel }, declare: (ch: Channel) => Promise<unknown>): Promise<string> {
  const ch = await raw.connection.createChannel();
  ch.on('error', () => undefined); // the refusal closes the channel; the promise carries it
  try {
    await declare(ch);
    await ch.close();
    return 'ok';
  } catch (e) {
    return String(e);
  }
}

/** The broker field of connect and reconnect lines, in order. */
export const connectedTo = (records: readonly LogRecord[]) =>
  records.filter((r) => /^broker (connected|connection re-established)$/.test(r.message)).map((r) => r.fields['broker']);

/** The typed error a connect must fail with; one that connects anyway is closed, then the test fails. */
export async function connectFailure(p: Promise<unknown>): Promise<TaskbusError> {
  try {
    const opened = await p;
    await (opened as TaskClient | undefined)?.close?.();
  } catch (e) {
    if (e instanceof TaskbusError) return e;
    throw e;
  }
  throw new Error('connected, but it must fail');
}

/** The RemoteTaskError a call's result() rejects with; throws if it resolved (the task ran when it must not have). */
export async function remoteFailure(p: Promise<unknown>, ranMessage = 'the task ran; it must have been revoked'): Promise<RemoteTaskError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RemoteTaskError) return e;
    throw e;
  }
  throw new Error(ranMessage);
}
