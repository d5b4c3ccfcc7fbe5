import type { TaskMessage } from '../celery/message.js';
import { encodeResult, exceptionInfo, type EncodedResult, type TaskState } from '../celery/result.js';
import { describeCause, TaskbusError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { WorkerStats } from '../metrics/stats.js';
import type { TaskSpec } from '../task.js';
import type { Registered, TaskHandler } from './types.js';

/** What every Worker does on register(): refused after start() and for a task registered twice. */
export function registerTask<A extends readonly unknown[], K extends object, R>(
  into: { readonly tasks: Map<string, Registered>; readonly stats: WorkerStats; readonly started: boolean },
  spec: TaskSpec<A, K, R>,
  handler: TaskHandler<A, K, R>,
): void {
  if (into.started) throw new TaskbusError('E_WORKER_STARTED', `task ${spec.name} registered after start(); register every task first`);
  if (into.tasks.has(spec.name)) throw new TaskbusError('E_DUPLICATE_TASK', `task ${spec.name} is registered twice`);
  into.tasks.set(spec.name, { spec, handler } as unknown as Registered);
  into.stats.add(spec);
}

/**
 * What every Worker does on start(): refused a second time, marked started, and its queues worked out (those
 * given, else its tasks' queues); a worker with none is refused.
 */
export function claimStart(into: { readonly tasks: ReadonlyMap<string, Registered>; started: boolean }, queues: readonly string[] | undefined): readonly string[] {
  if (into.started) throw new TaskbusError('E_WORKER_STARTED', 'worker.start() was already called; create another worker to consume elsewhere');
  into.started = true;
  const consumed = queues ?? [...new Set([...into.tasks.values()].map((t) => t.spec.queue))].sort();
  if (consumed.length === 0) throw new TaskbusError('E_NO_TASKS', 'worker has no tasks registered and no queues given');
  return consumed;
}

/**
 * Celery's rpc reply to a task, or null when the caller asked for none. A result JSON cannot carry (a BigInt,
 * a cycle) becomes Celery's EncodeError for the caller.
 */
export function encodeReply(m: TaskMessage, status: TaskState, result: unknown, traceback: string | null, log: Logger): EncodedResult | null {
  if (!m.replyTo || m.ignoreResult) return null;
  try {
    return encodeResult({ taskId: m.id, status, result, traceback });
  } catch (e) {
    log.error('result cannot be encoded as JSON; the caller gets EncodeError', { task: m.task, id: m.id, error: describeCause(e) });
    return encodeResult({ taskId: m.id, status: 'FAILURE', result: exceptionInfo('EncodeError', describeCause(e), 'kombu.exceptions'), traceback: null });
  }
}
