import type { TaskMessage } from '../celery/message.js';
import { TaskbusError } from '../errors.js';
import { MAX_TIMER_MS } from '../clock.js';

/**
 * The reason `context.signal` aborts with when the task's soft time limit passes, as Celery raises
 * SoftTimeLimitExceeded inside the task: a handler may catch it, clean up and still return (the task then
 * succeeds), or throw it (the task fails with SoftTimeLimitExceeded, retried as its contract says).
 */
export class SoftTimeLimitExceeded extends TaskbusError {
  constructor(
    readonly task: string,
    readonly taskId: string,
    readonly seconds: number,
  ) {
    super('E_SOFT_TIME_LIMIT', `soft time limit (${seconds} s) exceeded for task ${task} (${taskId})`);
  }
}

/**
 * The task's hard time limit passed: it failed with Celery's TimeLimitExceeded and was dead-lettered, and the
 * worker went on without waiting for its handler. `context.signal` aborts with it unless the soft limit
 * aborted it first. Node cannot kill a handler: it runs on in the background, and what it returns is ignored.
 */
export class TimeLimitExceeded extends TaskbusError {
  constructor(
    readonly task: string,
    readonly taskId: string,
    readonly seconds: number,
  ) {
    super('E_TIME_LIMIT', `hard time limit (${seconds} s) exceeded for task ${task} (${taskId}): TimeLimitExceeded(${seconds})`);
  }
}

/** A limit's delay in ms; null when there is none (null, 0 or less, or past setTimeout's range: never in practice). */
function delayMs(seconds: number | null): number | null {
  if (seconds === null || !(seconds > 0)) return null;
  const ms = Math.ceil(seconds * 1000);
  return ms <= MAX_TIMER_MS ? ms : null;
}

/** How a handler abandoned at its hard limit ended, later: only logged. */
export type LateOutcome = { readonly returned: unknown } | { readonly threw: unknown };

/**
 * The time limits of one run (Celery's `timelimit` header, [hard, soft] seconds): made only for a task that
 * has one, so a task without limits costs neither a controller nor a timer. Timers start with run() and are
 * cleared as soon as the handler settles.
 */
export class TimeLimits {
  private readonly controller = new AbortController();
  private soft: NodeJS.Timeout | undefined;
  private hard: NodeJS.Timeout | undefined;
  /** Set when the hard limit passed first: the run failed with it, and the handler's outcome is ignored. */
  expired: TimeLimitExceeded | null = null;

  private constructor(
    private readonly m: TaskMessage,
    private readonly hardMs: number | null,
    private readonly softMs: number | null,
  ) {}

  /** The limits of a message, or null when it carries none. */
  static of(m: TaskMessage): TimeLimits | null {
    const hardMs = delayMs(m.timeLimit[0]);
    const softMs = delayMs(m.timeLimit[1]);
    return hardMs === null && softMs === null ? null : new TimeLimits(m, hardMs, softMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Calls the handler under the limits. Settles as it does when it finishes in time; rejects with
   * TimeLimitExceeded (also in `expired`) when the hard limit passes first, and from then on the handler's
   * own outcome goes to `late` only, never to the caller: no second reply, no second settlement.
   */
  run<T>(handler: () => T | Promise<T>, late: (outcome: LateOutcome) => void): Promise<T> {
    if (this.softMs !== null && (this.hardMs === null || this.softMs < this.hardMs)) {
      this.soft = setTimeout(() => {
        this.soft = undefined;
        this.controller.abort(new SoftTimeLimitExceeded(this.m.task, this.m.id, this.m.timeLimit[1]!));
      }, this.softMs).unref();
    }
    let work: Promise<T>;
    try {
      work = Promise.resolve(handler());
    } catch (e) {
      this.clear();
      return Promise.reject(e);
    }
    const hardMs = this.hardMs;
    if (hardMs === null) return work.finally(() => this.clear());
    return new Promise<T>((resolve, reject) => {
      this.hard = setTimeout(() => {
        this.hard = undefined;
        this.clear();
        const e = new TimeLimitExceeded(this.m.task, this.m.id, this.m.timeLimit[0]!);
        this.expired = e;
        this.controller.abort(e); // a no-op when the soft limit aborted it already
        reject(e);
      }, hardMs).unref(); // the limit of a run stop() gave up on must not keep the process alive
      work.then(
        (value) => (this.expired ? late({ returned: value }) : (this.clear(), resolve(value))),
        (error: unknown) => (this.expired ? late({ threw: error }) : (this.clear(), reject(error))),
      );
    });
  }

  private clear(): void {
    clearTimeout(this.soft);
    clearTimeout(this.hard);
    this.soft = this.hard = undefined;
  }
}
