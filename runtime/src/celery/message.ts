/** A task as it travels in Celery protocol v2, independent of AMQP framing. */
export interface TaskMessage {
  readonly id: string;
  readonly task: string;
  readonly args: readonly unknown[];
  readonly kwargs: Readonly<Record<string, unknown>>;
  readonly retries: number;
  readonly eta: Date | null;
  readonly expires: Date | null;
  /** [hard, soft] seconds, Celery's order. */
  readonly timeLimit: readonly [number | null, number | null];
  readonly rootId: string | null;
  readonly parentId: string | null;
  readonly group: string | null;
  readonly ignoreResult: boolean;
  readonly origin: string | null;
  /**
   * What the caller stamped the task with (Celery 5.3+ `stamps` header, e.g. a tenant); `{}` when none.
   * The header itself, like `stamped_headers`, travels on untouched through retries and dead letters.
   */
  readonly stamps: Readonly<Record<string, unknown>>;
  /** Queue name the caller wants the result on (rpc backend), if any. */
  readonly replyTo: string | null;
  readonly correlationId: string | null;
  readonly priority: number | null;
}

/** Options a caller may set on one call; they map to Celery's `apply_async` options. */
export interface CallOptions {
  /** Queue to publish to instead of the contract's. */
  readonly queue?: string;
  /** Task id; a random UUID when omitted. Reuse an id to make a retry idempotent on the worker side. */
  readonly taskId?: string;
  /** Run no earlier than this many seconds from now (Celery `countdown`). */
  readonly countdown?: number;
  /** Run no earlier than this time (Celery `eta`); wins over `countdown`. */
  readonly eta?: Date;
  /** Discard if not started by then: seconds from now, or a time (Celery `expires`). */
  readonly expires?: number | Date;
  /** Retry count to start from (Celery `retries`). */
  readonly retries?: number;
  /**
   * Hard time limit in seconds, fractions allowed (Celery `time_limit`): past it the task fails with Celery's
   * TimeLimitExceeded, without retry, and the worker moves on.
   */
  readonly timeLimit?: number;
  /** Soft time limit in seconds, fractions allowed (Celery `soft_time_limit`): the handler's `context.signal` aborts. */
  readonly softTimeLimit?: number;
  /** AMQP priority 0-255, honoured only by queues declared with x-max-priority. */
  readonly priority?: number;
  /** Tell the worker not to send a result (Celery `ignore_result`). */
  readonly ignoreResult?: boolean;
}

/** The embed part of the body: canvas fields taskbus does not use, sent as Celery does. */
export const EMPTY_EMBED = Object.freeze({ callbacks: null, errbacks: null, chain: null, chord: null });
