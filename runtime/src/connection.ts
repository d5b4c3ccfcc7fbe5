import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import amqp, { type ChannelModel } from 'amqplib';
import { parseBrokerUrl, type BrokerUrl } from './broker-url.js';
import { classifyConnectError } from './connect-failure.js';
import { BrokerAccessRefusedError, BrokerTlsError, BrokerUnreachableError, TaskbusError } from './errors.js';
import { redactUrls, scrubSecrets } from './redact.js';
import { DEFAULT_AMQP_URL, type ConnectOptions, type TlsOptions } from './connect-options.js';

export function resolveUrl(url?: string): string {
  return url ?? process.env['AMQP_URL'] ?? DEFAULT_AMQP_URL;
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
