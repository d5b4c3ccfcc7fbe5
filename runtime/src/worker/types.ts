import type { RejectReason } from '../celery/decode.js';
import type { TaskMessage } from '../celery/message.js';
import type { TaskSpec } from '../task.js';

/** What a handler learns about the delivery it runs for. */
export interface TaskContext {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  /** Failed attempts before this one. */
  readonly retries: number;
  /** True when the broker delivered this task before (a worker died holding it): make handlers idempotent. */
  readonly redelivered: boolean;
  readonly message: TaskMessage;
  /**
   * Aborts when the task's soft time limit passes (reason: SoftTimeLimitExceeded), as Celery raises
   * SoftTimeLimitExceeded in the task: pass it to fetch, streams and timers, or check it between steps. A
   * handler that catches the abort and returns succeeds. With only a hard limit, it aborts at the hard limit
   * (reason: TimeLimitExceeded), when the task has already failed and the handler is abandoned. Never aborts
   * for a task without limits.
   */
  readonly signal: AbortSignal;
}

export type TaskHandler<A extends readonly unknown[], K extends object, R> = (args: A, kwargs: K, context: TaskContext) => R | Promise<R>;

/** A task the worker serves: its compiled contract and the implementation. */
export interface Registered {
  readonly spec: TaskSpec<readonly unknown[], object, unknown>;
  readonly handler: TaskHandler<readonly unknown[], object, unknown>;
}

/**
 * Why a delivery went to the dead-letter queue: it could not be decoded, could not (or did not) run, ran
 * past its hard time limit (`time-limit`: never retried, as in Celery), was delivered too often without
 * being settled (`delivery-limit`: it kills its worker?), or taskbus itself failed on it (`internal-error`:
 * worth a bug report; replay it once fixed).
 */
export type DeadLetterReason = RejectReason | 'oversized' | 'unknown-task' | 'invalid-arguments' | 'failed' | 'time-limit' | 'delivery-limit' | 'internal-error';
