import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import amqp, { type ChannelModel } from 'amqplib';
import { BrokerAccessRefusedError, BrokerUnreachableError, TaskbusError, redactUrls } from './errors.js';

export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** TLS for `amqps://` URLs. The server's certificate and name are always verified unless `insecure` is set. */
export interface TlsOptions {
  /** PEM CA bundle to trust instead of the system's. */
  readonly ca?: string | Buffer;
  /** PEM client certificate and key, for brokers that require one. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly passphrase?: string;
  /** Name to verify the certificate against, when it differs from the URL's host. */
  readonly servername?: string;
  /** Skips certificate verification. Only for local experiments; never the default. */
  readonly insecure?: boolean;
}

export interface ConnectOptions {
  /** Broker URL; defaults to the AMQP_URL environment variable, then to the local guest broker. */
  readonly url?: string;
  /** Seconds between heartbeats, so a dead peer is noticed (default 15). */
  readonly heartbeat?: number;
  /** Shown in the RabbitMQ management UI. */
  readonly connectionName?: string;
  /** Defaults from AMQP_TLS_CA, AMQP_TLS_CERT, AMQP_TLS_KEY (file paths) and AMQP_TLS_INSECURE=1. */
  readonly tls?: TlsOptions;
  /** Milliseconds to wait for the TCP/TLS connection (default 10 s). */
  readonly connectTimeoutMs?: number;
}

export function resolveUrl(url?: string): string {
  return url ?? process.env['AMQP_URL'] ?? DEFAULT_AMQP_URL;
}

/** `amqp://***@host` form of a URL, safe for logs and errors. */
export function safeUrl(url: string): string {
  return redactUrls(url);
}

function tlsFromEnv(): TlsOptions {
  const file = (name: string) => (process.env[name] ? readFileSync(process.env[name]!) : undefined);
  return {
    ...(file('AMQP_TLS_CA') ? { ca: file('AMQP_TLS_CA')! } : {}),
    ...(file('AMQP_TLS_CERT') ? { cert: file('AMQP_TLS_CERT')! } : {}),
    ...(file('AMQP_TLS_KEY') ? { key: file('AMQP_TLS_KEY')! } : {}),
    insecure: process.env['AMQP_TLS_INSECURE'] === '1',
  };
}

function socketOptions(options: ConnectOptions): Record<string, unknown> {
  const tls = options.tls ?? tlsFromEnv();
  return {
    noDelay: true,
    timeout: options.connectTimeoutMs ?? 10_000,
    clientProperties: { connection_name: options.connectionName ?? `taskbus ${process.pid}@${hostname()}` },
    ...(tls.ca ? { ca: [tls.ca] } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
    ...(tls.passphrase ? { passphrase: tls.passphrase } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
    rejectUnauthorized: tls.insecure !== true,
  };
}

/**
 * Login, vhost and TLS verification failures: retrying cannot fix them, so they fail fast instead of
 * turning into a reconnect storm.
 */
export function isFatalConnectError(e: unknown): boolean {
  return e instanceof BrokerAccessRefusedError || (e instanceof TaskbusError && e.code === 'E_TLS');
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
    return await amqp.connect(withHeartbeat.toString(), socketOptions(options));
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    const code = (e as { code?: string }).code ?? '';
    if (/ACCESS[-_]REFUSED|403|NOT[-_]ALLOWED|530/.test(text)) throw new BrokerAccessRefusedError(safeUrl(url), e);
    if (/CERT|SELF_SIGNED|ERR_TLS|HOSTNAME|ALTNAME/i.test(code) || /certificate|altnames/i.test(text)) {
      throw new TaskbusError('E_TLS', `TLS verification failed for ${safeUrl(url)} (${redactUrls(text)}); check AMQP_TLS_CA and the host name`, { cause: e });
    }
    throw new BrokerUnreachableError(safeUrl(url), e);
  }
}
