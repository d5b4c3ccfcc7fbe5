import type { TaskMessage } from '../celery/message.js';
import type { Delivery } from './delivery.js';
import type { TimeLimits } from './time-limits.js';
import type { TaskContext } from './types.js';

/**
 * The context a handler gets. A class, so `signal` is a getter on the prototype: a task without time limits
 * gets its AbortController (which then never aborts) only if its handler reads `signal`; none is made per
 * message otherwise. A signal shared by all such tasks would gather every handler's listeners, and leak them.
 */
export class HandlerContext implements TaskContext {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  readonly retries: number;
  readonly redelivered: boolean;
  readonly message: TaskMessage;
  #signal: AbortSignal | undefined;

  constructor(d: Delivery, m: TaskMessage, limits: TimeLimits | null) {
    this.id = m.id;
    this.task = m.task;
    this.queue = d.queue;
    this.retries = m.retries;
    this.redelivered = d.msg.fields.redelivered;
    this.message = m;
    this.#signal = limits?.signal;
  }

  get signal(): AbortSignal {
    return (this.#signal ??= new AbortController().signal);
  }
}
