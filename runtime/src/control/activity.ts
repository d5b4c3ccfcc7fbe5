import type { TaskContext } from '../worker/types.js';

/**
 * The tasks running now and how many ran per task name, for `inspect active` and `inspect stats`. Two map
 * writes per task run; nothing is read on the task path.
 */
export class Activity {
  /** Running handlers and their start (unix ms). */
  readonly running = new Map<TaskContext, number>();
  /** Tasks started per Celery task name since the worker started (Celery's `total`). */
  readonly total = new Map<string, number>();

  begin(context: TaskContext): void {
    this.running.set(context, Date.now());
    this.total.set(context.task, (this.total.get(context.task) ?? 0) + 1);
  }

  end(context: TaskContext): void {
    this.running.delete(context);
  }
}
