import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import amqp, { type ChannelModel } from 'amqplib';
import { coalesceWrites } from './amqp/coalesce.js';
import { parseBrokerList, type BrokerUrl } from './broker-url.js';
import { classifyConnectError } from './connect-failure.js';
import { BrokerAccessRefusedError, BrokerTlsError, BrokerUnreachableError, TaskbusError, type UnreachableBroker } from './errors.js';
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

/** A fatal failure as its typed error; an unreachable broker as what the caller lists once every broker failed. */
function connectError(broker: BrokerUrl, e: unknown): TaskbusError | UnreachableBroker {
  const cause = scrubbed(e, broker.secrets);
  switch (classifyConnectError(e)) {
    case 'access-refused':
      return new BrokerAccessRefusedError(broker.display, cause);
    case 'tls':
      return new BrokerTlsError(broker.display, cause);
    case 'unreachable':
      return { url: broker.display, cause };
  }
}

/** The brokers of `options.url` (else AMQP_URL, else the local default): one URL or a `;` list. */
export function brokersOf(options: ConnectOptions): readonly BrokerUrl[] {
  return parseBrokerList(resolveUrl(options.url));
}

/** One broker's connection: with Nagle off (request/response would otherwise pay ~40 ms per round trip), heartbeats on. */
function connectTo(broker: BrokerUrl, options: ConnectOptions): Promise<ChannelModel> {
  const withHeartbeat = new URL(broker.url);
  if (!withHeartbeat.searchParams.has('heartbeat')) withHeartbeat.searchParams.set('heartbeat', String(options.heartbeat ?? 15));
  // The credentials go as decoded here: amqplib would unescape() them, which reads the UTF-8 of a
  // non-ASCII password as Latin-1, so the broker refuses a password it holds.
  const { username, password } = broker.url;
  const credentials = username === '' && password === '' ? {} : { credentials: amqp.credentials.plain(decodeURIComponent(username), decodeURIComponent(password)) };
  return amqp.connect(withHeartbeat.toString(), { ...socketOptions(options), ...credentials }).then(coalesceWrites);
}

export interface BrokerConnection {
  readonly connection: ChannelModel;
  /** Index in the list of the broker it is open to. */
  readonly index: number;
  readonly broker: BrokerUrl;
}

/**
 * Tries the brokers once each, in `order`, and returns the first connection. A refused login or a TLS
 * failure stops at once (the others share the credentials and certificates); if every broker is
 * unreachable, the error names each one. Errors never carry a password.
 *
 * `afterLoss`: a reconnect, after a connection that worked. One node refusing then (its vhost down, a
 * connection limit reached) is skipped like an unreachable one, and the round gives up for good only when
 * every node refused: a process that was running is not stopped by one node while another takes it.
 */
export async function connectFirst(brokers: readonly BrokerUrl[], order: readonly number[], options: ConnectOptions, afterLoss = false): Promise<BrokerConnection> {
  const unreachable: UnreachableBroker[] = [];
  let refused: TaskbusError | null = null;
  for (const index of order) {
    const broker = brokers[index]!;
    try {
      return { connection: await connectTo(broker, options), index, broker };
    } catch (e) {
      const failure = connectError(broker, e);
      if (failure instanceof TaskbusError) {
        if (!afterLoss) throw failure;
        refused ??= failure;
        unreachable.push({ url: broker.display, cause: failure });
      } else unreachable.push(failure);
    }
  }
  if (refused && unreachable.every((u) => u.cause instanceof TaskbusError)) throw refused;
  throw new BrokerUnreachableError(unreachable);
}

/** Opens one AMQP connection to the first broker of the list that answers; failures are typed errors. */
export async function openConnection(options: ConnectOptions = {}): Promise<ChannelModel> {
  const brokers = brokersOf(options);
  return (await connectFirst(brokers, brokers.map((_, i) => i), options)).connection;
}

/**
 * Ends a connection without the closing handshake, for a broker that no longer answers: the socket is
 * destroyed with an error, so amqplib closes the channels and stops the heartbeats as for a lost socket.
 * An amqplib whose internals differ is left as it is.
 */
export function dropConnection(model: ChannelModel): void {
  const stream = (model as unknown as { connection?: { stream?: { destroy?(e: Error): void } } }).connection?.stream;
  stream?.destroy?.(new Error('the broker did not answer the close; connection dropped'));
}
