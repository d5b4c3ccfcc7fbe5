import type { DeadLetterReason } from '../worker/types.js';

// The hot path only bumps plain numbers here; prom-client reads them at scrape time (see registry.ts).
// A labelled prom-client child hashes its labels on every inc() (~0.3 us; an observe ~0.8 us): several per
// task would cost the consumer a few percent of its ~37 us per task.

/** prom-client's default buckets, in seconds. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A histogram as plain numbers: one count per bucket (not cumulative) plus one past the last bound. */
export class DurationStats {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** One task version's counts on one worker. */
export class TaskStats {
  /** Deliveries taken from the queue, retries and redeliveries included. */
  received = 0;
  succeeded = 0;
  /** Handler runs that failed for good: threw with no attempt left, or returned a result the contract refuses. */
  failed = 0;
  /** Handler runs that threw and were sent to a delay queue for another attempt. */
  retried = 0;
  /** Not run: past their `expires`. */
  expired = 0;
  /** Handlers running now. */
  inFlight = 0;
  readonly deadLettered = new Map<DeadLetterReason, number>();
  readonly duration: DurationStats;

  constructor(
    /** Celery task name; '' for deliveries that name no task this worker serves. */
    readonly task: string,
    readonly version: string,
    bounds: readonly number[],
  ) {
    this.duration = new DurationStats(bounds);
  }

  /** A handler run ended (either way): it leaves the in-flight count and its duration is recorded. */
  ran(startedMs: number, nowMs: number): void {
    this.inFlight--;
    this.duration.observe((nowMs - startedMs) / 1000);
  }

  deadLetter(reason: DeadLetterReason): void {
    this.deadLettered.set(reason, (this.deadLettered.get(reason) ?? 0) + 1);
  }
}

/**
 * The `version` label of a spec: its contract version when it carries one (generated bindings do), else
 * the `_vN` suffix Celery names of later versions carry, else "1".
 */
export function versionLabel(spec: { readonly name: string; readonly version?: number }): string {
  if (spec.version !== undefined) return String(spec.version);
  return /_v(\d+)$/.exec(spec.name)?.[1] ?? '1';
}

/** A worker's counts per task name, built at registration so a delivery costs one map lookup. */
export class WorkerStats {
  private readonly byTask = new Map<string, TaskStats>();
  /** Deliveries naming no task served here (unknown, missing or hostile `task` header): one series, bounded. */
  readonly unmatched: TaskStats;

  constructor(readonly bounds: readonly number[] = DEFAULT_DURATION_BUCKETS) {
    this.unmatched = new TaskStats('', '', bounds);
  }

  add(spec: { readonly name: string; readonly version?: number }): TaskStats {
    const stats = new TaskStats(spec.name, versionLabel(spec), this.bounds);
    this.byTask.set(spec.name, stats);
    return stats;
  }

  /** The stats of the task a delivery names (its `task` header), or `unmatched`. */
  of(task: unknown): TaskStats {
    return (typeof task === 'string' ? this.byTask.get(task) : undefined) ?? this.unmatched;
  }

  /** The registered tasks' stats, plus `unmatched` when asked (it only ever receives and dead-letters). */
  all(withUnmatched: boolean): Iterable<TaskStats> {
    return withUnmatched ? [...this.byTask.values(), this.unmatched] : this.byTask.values();
  }
}

/** One client's counts. */
export class ClientStats {
  /** Publishes written to a channel; one re-sent after a lost channel, a nack or a return counts again. */
  published = 0;
  /** Publishes the broker confirmed (each send at most once). */
  confirmed = 0;
  /** Publishes the broker returned as unroutable. */
  returned = 0;
  /** Connections re-established after a loss. */
  reconnects = 0;

  /** Publishes not yet confirmed (waiting to be written, or written): read at scrape time. */
  constructor(readonly buffered: () => number) {}
}
