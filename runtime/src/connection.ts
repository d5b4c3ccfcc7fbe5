import { hostname } from 'node:os';
import amqp, { type ChannelModel } from 'amqplib';
import { BrokerAccessRefusedError, BrokerUnreachableError, redactUrls } from './errors.js';

export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

export interface ConnectOptions {
  /** Broker URL; defaults to the AMQP_URL environment variable, then to the local guest broker. */
  readonly url?: string;
  /** Seconds between heartbeats, so a dead peer is noticed (default 15). */
  readonly heartbeat?: number;
  /** Shown in the RabbitMQ management UI. */
  readonly connectionName?: string;
}

export function resolveUrl(url?: string): string {
  return url ?? process.env['AMQP_URL'] ?? DEFAULT_AMQP_URL;
}

/** `amqp://guest:***@host` form of a URL, safe for logs and errors. */
export function safeUrl(url: string): string {
  return redactUrls(url);
}

/**
 * Opens an AMQP connection with Nagle off (request/response would otherwise pay ~40 ms per round trip)
 * and heartbeats on; failures become typed errors that never carry the password.
 */
export async function openConnection(options: ConnectOptions = {}): Promise<ChannelModel> {
  const url = resolveUrl(options.url);
  const withHeartbeat = new URL(url);
  if (!withHeartbeat.searchParams.has('heartbeat')) withHeartbeat.searchParams.set('heartbeat', String(options.heartbeat ?? 15));
  try {
    return await amqp.connect(withHeartbeat.toString(), {
      noDelay: true,
      clientProperties: { connection_name: options.connectionName ?? `taskbus ${process.pid}@${hostname()}` },
    });
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    if (/ACCESS[-_]REFUSED|403/.test(text)) throw new BrokerAccessRefusedError(safeUrl(url), e);
    throw new BrokerUnreachableError(safeUrl(url), e);
  }
}
