import type { CallOptions } from '../celery/message.js';
import type { TaskState } from '../celery/result.js';
import type { TaskClient } from '../client.js';
import type { Logger } from '../logger.js';
import type { TaskSpec } from '../task.js';
import type { Worker, WorkerOptions } from '../worker.js';

export interface TestBusOptions {
  /** Where the virtual clock starts (default: the real time when the bus is created); an invalid time throws a RangeError. */
  readonly startAt?: Date | number;
  /** Logger of the client and of workers without their own (default: silent). */
  readonly logger?: Logger;
}

/** Options of a harness worker: those of createWorker that mean something without a broker. */
export type TestWorkerOptions = Pick<WorkerOptions, 'queues' | 'prefetch' | 'maxHoldMs' | 'deliveryLimit' | 'maxPayloadBytes' | 'logger' | 'name'>;

/** The bus's virtual time. Countdowns, ETAs, expiry, retry delays and result() timeouts follow it; nothing waits real time. */
export interface TestClock {
  /** Milliseconds since the epoch, on the virtual clock. */
  now(): number;
  /**
   * Moves time forward by `ms`, firing every timer that falls due in order (a retry coming back, a held
   * countdown), and running the work each starts until the bus is idle before the next. Rejects with a
   * RangeError, the clock unmoved, when `ms` is negative or not finite. Advances called together run one
   * after the other. Call it from the test, not from a handler: it waits for the running handlers, that one
   * included.
   */
  advance(ms: number): Promise<void>;
}

/**
 * A call the bus's client sent (after its contract check passed), its arguments as the message holds them:
 * JSON, as a worker reads them, unchanged by what the caller does to its objects afterwards. As they were
 * sent: a Python-style call (`untypedTask`, arguments given as kwargs by name) is listed with those kwargs,
 * not bound to positions as the worker binds them.
 */
export interface SentCall<A extends readonly unknown[] = readonly unknown[], K extends object = object> {
  readonly id: string;
  readonly task: string;
  readonly queue: string;
  readonly args: A;
  readonly kwargs: K;
  readonly options: CallOptions;
}

/** A task as it waits in a queue (or in a dead-letter queue), read from its message. */
export interface QueuedTask {
  readonly id: string;
  readonly task: string;
  /** The positional and keyword arguments as sent, or undefined when the body is not a Celery JSON body. */
  readonly args: readonly unknown[] | undefined;
  readonly kwargs: Readonly<Record<string, unknown>> | undefined;
  /** Attempts before this one (the `retries` header). */
  readonly retries: number;
  readonly headers: Readonly<Record<string, unknown>>;
}

/** A message in `<queue>.dlq`, with the worker's reason (`failed`, `invalid-arguments`, ...) and error. */
export interface DeadLetterRecord extends QueuedTask {
  readonly reason: string;
  readonly error: string;
}

/** A reply a worker sent to a caller (Celery's rpc result). */
export interface TaskOutcome {
  readonly id: string;
  readonly task: string;
  readonly status: TaskState;
  readonly result: unknown;
  readonly traceback: string | null;
}

export interface ExpectSent<A extends readonly unknown[], K extends object> {
  /** Exactly this many matching calls (default: at least one). */
  readonly times?: number;
  /** Only calls with these positional arguments (deep equality). */
  readonly args?: A;
  /** Only calls with these keyword arguments (deep equality). */
  readonly kwargs?: K;
}

/**
 * An in-memory bus (see createTestBus). Time is virtual: nothing that waits on the clock happens until the
 * test moves it, so `await sent.result()` for a task that needs the clock (a countdown, a retry delay, a
 * worker not started) waits until the test's own timeout; start result(), `clock.advance()`, then await it.
 * An `eta` or `expires` given as a Date is read against the virtual clock: compute it from `clock.now()`.
 */
export interface TestBus {
  readonly clock: TestClock;
  /** A TaskClient sending into the bus: `createXClient(bus.client)` works unchanged. */
  readonly client: TaskClient;
  /** A Worker consuming from the bus once started: `bindXHandlers(bus.worker(), handlers)` works unchanged. */
  worker(options?: TestWorkerOptions): Worker;
  /**
   * Delivers what can be delivered now and waits for the handlers it starts, without moving the clock. A
   * handler awaiting the result of a call it sent on this bus is not waited for meanwhile (that result may
   * need the clock: a countdown, a retry delay, its timeout): from its result() call until that result is
   * in, even if it does other work in between; it counts again once the result is in. Any
   * other await is waited for in real time however long it takes: a handler that never settles hangs
   * runUntilIdle, advance() and close() (the test framework's timeout then ends the test).
   */
  runUntilIdle(): Promise<void>;
  /** The calls sent of this task version (or task name), oldest first; every call when none is given. */
  sent<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R>): SentCall<A, K>[];
  sent(task?: string): SentCall[];
  /** Throws an AssertionError showing what was sent unless the call was sent as expected. */
  expectSent<A extends readonly unknown[], K extends object, R>(spec: TaskSpec<A, K, R> | string, expected?: ExpectSent<A, K>): void;
  /** Tasks waiting in a queue (no started worker consumes it, or they wait for a free prefetch slot). */
  queued(queue: string): QueuedTask[];
  /** What the workers dead-lettered from a task queue (`queue`, not `queue.dlq`), oldest first. */
  deadLetters(queue: string): DeadLetterRecord[];
  /**
   * Replies sent by the workers, oldest first. As on the broker, a task sent with `ignoreResult` gets none, so
   * it is not listed (see `attempts` and `deadLetters`); nor is a task dropped unseen for its TTL.
   */
  outcomes(): TaskOutcome[];
  /** How many times a handler ran for this task id (retries included). */
  attempts(taskId: string): number;
  /**
   * Stops the workers (no more deliveries; held countdowns go back to their queues), closes the client
   * (pending result() calls reject with ClosedError, a handler's included, and later sends throw it), then
   * waits for the handlers still running. Safe to call twice.
   */
  close(): Promise<void>;
}
