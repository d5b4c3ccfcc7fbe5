import { redactUrls } from './redact.js';

/** Base class of every error taskbus throws; `code` is stable, match on it rather than on messages. */
export class TaskbusError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One schema violation, with the path given in argument names (`meta.tags.x`), not tuple indices. */
export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * Values do not match the task's contract: arguments (nothing was sent or run), or a result (a worker
 * returned, or a remote worker replied, something the contract does not allow).
 */
export class ContractValidationError extends TaskbusError {
  readonly task: string;
  readonly subject: 'arguments' | 'result';
  readonly issues: readonly ValidationIssue[];

  constructor(task: string, issues: readonly ValidationIssue[], subject: 'arguments' | 'result' = 'arguments') {
    const listed = issues.map((i) => `  - ${i.path || `(${subject})`}: ${i.message}`).join('\n');
    super('E_CONTRACT_VALIDATION', `invalid ${subject} for task ${task}${subject === 'arguments' ? '; nothing was sent' : ''}:\n${listed}`);
    this.task = task;
    this.subject = subject;
    this.issues = issues;
  }
}

/** A broker of AMQP_URL that could not be reached, and why (its URL redacted, the cause scrubbed). */
export interface UnreachableBroker {
  readonly url: string;
  readonly cause: unknown;
}

/** No broker could be reached at all (refused, DNS, timeout): with a URL list, none of them. */
export class BrokerUnreachableError extends TaskbusError {
  /** The URLs tried, redacted, in the order they were tried. */
  readonly urls: readonly string[];

  constructor(url: string, cause: unknown);
  constructor(tried: readonly UnreachableBroker[]);
  constructor(urlOrTried: string | readonly UnreachableBroker[], cause?: unknown) {
    const tried = typeof urlOrTried === 'string' ? [{ url: urlOrTried, cause }] : urlOrTried;
    const each = tried.map((t) => `${t.url} (${describeCause(t.cause)})`);
    const where = each.length === 1 ? `at ${each[0]}` : `at any of the ${each.length} brokers in the list: ${each.join(', ')}`;
    super(
      'E_BROKER_UNREACHABLE',
      `cannot reach RabbitMQ ${where}; start one with ` + '`rabbitmq-server -detached` or point AMQP_URL at a running broker',
      { cause: tried.length === 1 ? tried[0]!.cause : new AggregateError(tried.map((t) => t.cause), 'every broker failed') },
    );
    this.urls = tried.map((t) => t.url);
  }
}

/** The broker refused our credentials or virtual host. Retrying will not help. */
export class BrokerAccessRefusedError extends TaskbusError {
  constructor(url: string, cause: unknown) {
    super(
      'E_BROKER_ACCESS_REFUSED',
      `RabbitMQ at ${url} refused the login or the vhost (${describeCause(cause)}); check the user, password and vhost in AMQP_URL`,
      { cause },
    );
  }
}

/** The TLS handshake failed: certificate not trusted, wrong host name, no client certificate, not a TLS port. */
export class BrokerTlsError extends TaskbusError {
  constructor(url: string, cause: unknown) {
    super(
      'E_TLS',
      `TLS with ${url} failed (${describeCause(cause)}); check AMQP_TLS_CA, the client certificate and the host name, and that the port speaks TLS`,
      { cause },
    );
  }
}

/** The broker URL cannot be parsed; `url` is already redacted. Carries no cause: URL errors hold the input. */
export class BadUrlError extends TaskbusError {
  constructor(url: string, reason: string) {
    super(
      'E_BAD_URL',
      `broker URL ${url} is not valid: ${reason}; write it as amqp[s]://user:password@host[:port][/vhost], ` +
        'with @ : / ? # % in the user name, password or vhost percent-encoded',
    );
  }
}

/** The broker did not accept a publish (negative confirm, channel closed, unroutable). */
export class PublishError extends TaskbusError {
  readonly taskId: string;

  constructor(taskId: string, reason: string, cause?: unknown) {
    super('E_PUBLISH', `task ${taskId} was not accepted by the broker: ${reason}`, { cause });
    this.taskId = taskId;
  }
}

/** A queue could not be declared, usually because it exists with other arguments. */
export class TopologyError extends TaskbusError {
  constructor(queue: string, cause: unknown) {
    super(
      'E_TOPOLOGY',
      `cannot use queue "${queue}" (${describeCause(cause)}); taskbus uses a queue and its exchange as they ` +
        'exist and declares them only when missing: check the permissions on them, or use another queue name',
      { cause },
    );
  }
}

/**
 * A connection's set-up (channels, queues, consumers) did not complete: its connection or one of its channels
 * closed under it, or it took too long. After a reconnect it is tried again on a new connection; at start()
 * the caller may simply start again.
 */
export class SetupInterruptedError extends TaskbusError {
  constructor(what: string, why: string) {
    super('E_SETUP_INTERRUPTED', `the set-up of ${what} did not complete: ${why}; it is tried again on a new connection (or start again)`);
  }
}

/** The client or worker was used after close(). */
export class ClosedError extends TaskbusError {
  constructor(what: string) {
    super('E_CLOSED', `${what} is closed; create a new one`);
  }
}

/** Text of an unknown thrown value, credentials stripped from any AMQP URL it contains. */
export function describeCause(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  return redactUrls(text);
}

/** A version delegate was asked for a version the contract does not have. */
export class UnknownVersionError extends TaskbusError {
  constructor(task: string, version: unknown, known: readonly number[]) {
    super('E_UNKNOWN_VERSION', `task ${task} has no version ${String(version)}; known versions: ${known.join(', ')}`);
  }
}

/** The task failed on the worker (Python or TypeScript); carries the remote exception type and message. */
export class RemoteTaskError extends TaskbusError {
  constructor(
    readonly taskId: string,
    readonly task: string,
    /** Remote exception type, e.g. `ValueError`, `NotRegistered`, `TaskRevokedError`. */
    readonly excType: string,
    readonly excMessage: string,
    readonly excModule: string | null,
    readonly remoteTraceback: string | null,
    readonly state: 'FAILURE' | 'REVOKED' = 'FAILURE',
  ) {
    super(
      state === 'REVOKED' ? 'E_TASK_REVOKED' : 'E_TASK_FAILED',
      `task ${task} (${taskId}) ${state === 'REVOKED' ? 'was revoked' : 'failed'}: ${excModule && excModule !== 'builtins' ? excModule + '.' : ''}${excType}: ${excMessage}`,
    );
  }
}

/** No final result arrived in time. The task may still run; its id is in the error. */
export class ResultTimeoutError extends TaskbusError {
  constructor(
    readonly taskId: string,
    readonly task: string,
    timeoutMs: number,
  ) {
    super('E_RESULT_TIMEOUT', `no result for task ${task} (${taskId}) within ${timeoutMs} ms; it may still run`);
  }
}

/** Why result() can give no outcome for a task although none arrived, or none was kept. */
export type ResultUnavailableReason = 'ignored' | 'expired' | 'evicted' | 'no-reply';

const UNAVAILABLE: Record<ResultUnavailableReason, string> = {
  ignored: 'it was sent with ignoreResult, so no reply will come',
  expired: 'its reply was dropped because nobody asked for it within resultTtlMs; call result() sooner or raise resultTtlMs',
  evicted: 'its reply was dropped because unclaimed replies exceeded maxUnclaimedBytes; gather results as they come or raise maxUnclaimedBytes',
  'no-reply': 'no reply came within resultTtlMs and a later one will be dropped; the task may still run',
};

/** result() cannot tell the task's outcome any more (or never could); the reason says which limit applied. */
export class ResultUnavailableError extends TaskbusError {
  constructor(
    readonly taskId: string,
    readonly task: string,
    readonly reason: ResultUnavailableReason,
  ) {
    super('E_RESULT_UNAVAILABLE', `no result for task ${task} (${taskId}): ${UNAVAILABLE[reason]}`);
  }
}

/** The broker did not confirm a publish within the confirm timeout; it may or may not hold the task. */
export class PublishTimeoutError extends TaskbusError {
  constructor(
    readonly taskId: string,
    timeoutMs: number,
  ) {
    super('E_PUBLISH_TIMEOUT', `task ${taskId} was not confirmed by the broker within ${timeoutMs} ms; it may or may not have been stored`);
  }
}

/** Too much is waiting for the broker's confirm (disconnected, blocked, or slower than the calls); back off and retry later. */
export class BufferFullError extends TaskbusError {
  constructor(limit: number, unit: 'publishes' | 'bytes' = 'publishes') {
    super(
      'E_BUFFER_FULL',
      `${limit} ${unit} (${unit === 'bytes' ? 'maxBufferedBytes' : 'maxBuffered'}) are already waiting for the broker's confirm ` +
        '(disconnected, blocked by a resource alarm, or publishing faster than it confirms); nothing was sent, try again later',
    );
  }
}

/** A message is bigger than the configured maximum payload. */
export class PayloadTooLargeError extends TaskbusError {
  constructor(
    readonly task: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super('E_PAYLOAD_TOO_LARGE', `task ${task}: body of ${bytes} bytes exceeds the ${limit}-byte limit (maxPayloadBytes); nothing was sent`);
  }
}
