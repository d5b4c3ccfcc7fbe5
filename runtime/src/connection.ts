import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import amqp, { type ChannelModel } from 'amqplib';
import { parseBrokerUrl, type BrokerUrl } from './broker-url.js';
import { classifyConnectError } from './connect-failure.js';
import { BrokerAccessRefusedError, BrokerTlsError, BrokerUnreachableError, TaskbusError } from './errors.js';
import { redactUrl, redactUrls, scrubSecrets } from './redact.js';

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
  return redactUrl(url);
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

const FATAL_CODES: ReadonlySet<string> = new Set(['E_BROKER_ACCESS_REFUSED', 'E_TLS', 'E_BAD_URL']);

/**
 * Login, vhost, TLS and URL failures: retrying cannot fix them, so they fail fast instead of turning into
 * a reconnect storm. Matched by code, so a second copy of the runtime agrees.
 */
export function isFatalConnectError(e: unknown): boolean {
  return e instanceof TaskbusError && FATAL_CODES.has(e.code);
}

/**
 * The error as it may appear in a cause chain: itself when it holds no credential, else a copy with the
 * message scrubbed and the code kept (a library may echo the URL or the decoded password).
 */
function scrubbed(e: unknown, secrets: readonly string[]): unknown {
  if (!(e instanceof Error)) return scrubSecrets(redactUrls(String(e)), secrets);
  const message = scrubSecrets(redactUrls(e.message), secrets);
  const cause = e.cause === undefined ? undefined : scrubbed(e.cause, secrets);
  if (message === e.message && cause === e.cause) return e;
  const copy = new Error(message, cause === undefined ? undefined : { cause });
  copy.name = e.name;
  const { code } = e as { code?: unknown };
  return code === undefined ? copy : Object.assign(copy, { code });
}

function connectError(broker: BrokerUrl, e: unknown): TaskbusError {
  const cause = scrubbed(e, broker.secrets);
  switch (classifyConnectError(e)) {
    case 'access-refused':
      return new BrokerAccessRefusedError(broker.display, cause);
    case 'tls':
      return new BrokerTlsError(broker.display, cause);
    case 'unreachable':
      return new BrokerUnreachableError(broker.display, cause);
  }
}

/**
 * Opens an AMQP connection with Nagle off (request/response would otherwise pay ~40 ms per round trip)
 * and heartbeats on; failures become typed errors that never carry the password.
 */
export async function openConnection(options: ConnectOptions = {}): Promise<ChannelModel> {
  const broker = parseBrokerUrl(resolveUrl(options.url));
  const withHeartbeat = new URL(broker.url);
  if (!withHeartbeat.searchParams.has('heartbeat')) withHeartbeat.searchParams.set('heartbeat', String(options.heartbeat ?? 15));
  try {
    return await amqp.connect(withHeartbeat.toString(), socketOptions(options));
  } catch (e) {
    throw connectError(broker, e);
  }
}
