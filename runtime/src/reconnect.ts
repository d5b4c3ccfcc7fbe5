import type { ChannelModel } from 'amqplib';
import type { BrokerUrl } from './broker-url.js';
import type { BackoffOptions, ReconnectOptions } from './connect-options.js';
import { CLOSE_GRACE_MS, closeConnection } from './amqp/close.js';
import { brokersOf, connectFirst, isFatalConnectError, type BrokerConnection } from './connection.js';
import { ClosedError, describeCause, SetupInterruptedError } from './errors.js';
import type { Logger } from './logger.js';
import { BrokerRotation } from './rotation.js';
import { settlesWithin } from './clock.js';

/** Capped exponential backoff with full jitter: many clients reconnecting do not arrive in step. */
export function backoffDelay(attempt: number, b: BackoffOptions = {}, random: () => number = Math.random): number {
  const cap = b.maxMs ?? 10_000;
  return Math.round(random() * Math.min(cap, (b.initialMs ?? 100) * 2 ** attempt));
}

/** How long a connection's set-up may take before the connection is dropped and another one tried. */
export const SETUP_TIMEOUT_MS = 60_000;

/**
 * A connection or channel that lived this long was healthy: after its loss the backoff starts again from
 * the shortest delay. One that dies sooner counts as a failure, so nothing reconnects in a tight loop.
 */
export const STABLE_MS = 10_000;

/**
 * Keeps one connection up, to one broker of the list at a time. The first connect tries each broker once,
 * then fails fast with a typed error; after that a lost connection is re-opened on the next broker in
 * turn, with backoff once a whole round has failed, and `setup` runs again on every new connection
 * (channels, topology, consumers), as node-amqp-connection-manager's `addSetup` does.
 */
export class Reconnector {
  private connection: ChannelModel | null = null;
  private connectedTo: BrokerUrl | null = null;
  private closing = false;
  private timer: NodeJS.Timeout | null = null;
  /** Failed attempts since the last working connection; drives the backoff. */
  private failures = 0;
  private readonly brokers: readonly BrokerUrl[];
  private readonly rotation: BrokerRotation;

  constructor(
    private readonly options: ReconnectOptions,
    private readonly log: Logger,
    private readonly setup: (connection: ChannelModel) => Promise<void>,
    private readonly onLost: () => void,
    private readonly onFatal: (e: unknown) => void,
    private readonly setupTimeoutMs = SETUP_TIMEOUT_MS,
  ) {
    // Parsed once, here: a bad URL fails before anything is opened, and a reconnect never re-reads AMQP_URL.
    this.brokers = brokersOf(options);
    this.rotation = new BrokerRotation(this.brokers.length);
  }

  async start(): Promise<void> {
    try {
      const opened = await this.connect();
      if (this.closing) {
        // close() came while connecting: nothing may stay open behind the caller's back.
        await closeConnection(opened.connection);
        throw new ClosedError('connection (closed while it was being opened)');
      }
      await this.open(opened);
      // Which node answered matters only with a list; a one-line CLI call stays quiet otherwise.
      if (this.brokers.length > 1) this.log.info('broker connected', { broker: opened.broker.display });
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** One round over the brokers, starting after the one last lost. */
  private connect(afterLoss = false): Promise<BrokerConnection> {
    return connectFirst(this.brokers, this.rotation.round(), this.options, afterLoss);
  }

  private async open({ connection, index, broker }: BrokerConnection): Promise<void> {
    this.connection = connection;
    this.connectedTo = broker;
    this.rotation.connected(index);
    let ready = false;
    let readyAt = 0;
    let lostInSetup = false;
    connection.on('error', (e: unknown) => this.log.warn('broker connection error', { error: describeCause(e) }));
    connection.once('close', () => {
      if (this.closing) return;
      this.connection = null;
      this.rotation.lost();
      if (!ready) {
        lostInSetup = true; // reported by whoever called open(), as a failed set-up
        return;
      }
      // A connection that dies soon after it opened (a node shutting down, a proxy cutting it) counts as
      // a failure: the backoff grows instead of reconnecting to it in a tight loop.
      if (Date.now() - readyAt >= STABLE_MS) this.failures = 0;
      else this.failures++;
      this.log.warn('broker connection lost; reconnecting', { broker: broker.display });
      this.onLost();
      this.schedule();
    });
    try {
      // A set-up that never settles would leave the process connected and idle for good: past the deadline
      // the connection is dropped and the next one gets a new set-up.
      if (!(await settlesWithin(this.setup(connection), this.setupTimeoutMs))) {
        throw new SetupInterruptedError(`the connection to ${broker.display}`, `it did not finish within ${this.setupTimeoutMs} ms`);
      }
      // A set-up can finish without an error on a connection that closed under it (a declaration whose
      // failure is only logged, a consume skipped on a closed channel): it must not pass for connected.
      if (lostInSetup) throw new SetupInterruptedError(`the connection to ${broker.display}`, 'the connection closed while it was being set up');
    } catch (e) {
      this.failures++;
      await closeConnection(connection);
      throw e;
    }
    ready = true;
    readyAt = Date.now();
  }

  private schedule(): void {
    if (this.closing || this.timer) return;
    this.timer = setTimeout(() => void this.attempt(), backoffDelay(this.failures, this.options.reconnect));
  }

  private async attempt(): Promise<void> {
    this.timer = null;
    if (this.closing) return;
    let opened: BrokerConnection;
    try {
      opened = await this.connect(true);
    } catch (e) {
      if (isFatalConnectError(e)) {
        this.log.error('giving up reconnecting', { error: describeCause(e) });
        this.onFatal(e);
        return;
      }
      this.failures++;
      this.schedule();
      return;
    }
    if (this.closing) {
      await closeConnection(opened.connection);
      return;
    }
    try {
      await this.open(opened);
      this.log.info('broker connection re-established', { broker: opened.broker.display });
    } catch (e) {
      this.log.warn('set-up after reconnect failed; retrying', { error: describeCause(e) });
      this.schedule();
    }
  }

  get current(): ChannelModel | null {
    return this.connection;
  }

  /** The broker of the current (or last) connection. */
  get broker(): BrokerUrl | null {
    return this.connectedTo;
  }

  /**
   * Closes the connection. One whose broker does not answer within `graceMs` (it stopped reading: blocked by
   * a resource alarm, hung) is dropped: amqplib's close waits for the close-ok for ever, and the socket and
   * heartbeat timers would keep the process alive.
   */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const connection = this.connection;
    if (connection) await closeConnection(connection, graceMs);
    this.connection = null;
  }
}
