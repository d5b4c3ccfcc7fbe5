import { redactUrl } from './redact.js';

// The public connection options, kept apart from the modules that open connections: nothing here may
// import amqplib, so the runtime's public declarations need no @types/amqplib in a consumer's project.

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
  /**
   * Broker URL, or several separated by `;` (nodes of one cluster, tried in turn: see the README's "more
   * than one broker node"); defaults to the AMQP_URL environment variable, then to the local guest broker.
   */
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

export interface BackoffOptions {
  /** First delay before reconnecting (default 100 ms). */
  readonly initialMs?: number;
  /** Cap on the delay (default 10 s). */
  readonly maxMs?: number;
}

export interface ReconnectOptions extends ConnectOptions {
  readonly reconnect?: BackoffOptions;
}

/** `amqp://***@host` form of a URL (or of each URL of a list), safe for logs and errors. */
export function safeUrl(url: string): string {
  return redactUrl(url);
}
