/** Samples of the last minutes, and the rates read off them. Pure: the time of each sample is given. */

export interface Sample {
  /** Milliseconds since the epoch. */
  readonly at: number;
  /** Ready messages per queue (null: unknown or missing). */
  readonly queues: ReadonlyMap<string, number | null>;
  /** Counters per task key (see prometheus.ts taskKey). */
  readonly tasks: ReadonlyMap<string, { readonly succeeded: number; readonly failed: number; readonly durationSum: number; readonly durationCount: number }>;
}

export const HISTORY_MS = 10 * 60_000;
/** Rates are over the last minute (or as much of it as has been sampled). */
export const RATE_WINDOW_MS = 60_000;

/**
 * Per second, from two readings of a counter `seconds` apart. A counter that went down was reset (its worker
 * restarted): the new reading is what was counted since.
 */
export function counterRate(before: number, after: number, seconds: number): number {
  if (seconds <= 0) return 0;
  return (after >= before ? after - before : after) / seconds;
}

/** Samples kept at most, whatever the interval: 10 minutes at 1 s (a shorter interval keeps less time). */
export const MAX_SAMPLES = 600;

export class History {
  private samples: Sample[] = [];

  constructor(
    private readonly keepMs = HISTORY_MS,
    private readonly maxSamples = MAX_SAMPLES,
  ) {}

  add(s: Sample): void {
    this.samples.push(s);
    const oldest = s.at - this.keepMs;
    while (this.samples.length > 0 && this.samples[0]!.at < oldest) this.samples.shift();
    if (this.samples.length > this.maxSamples) this.samples.splice(0, this.samples.length - this.maxSamples);
  }

  all(): readonly Sample[] {
    return this.samples;
  }

  /** The latest sample, and the oldest one within the window before it (undefined with fewer than two). */
  private window(windowMs: number): [Sample, Sample] | undefined {
    const last = this.samples.at(-1);
    if (!last) return undefined;
    const first = this.samples.find((s) => s.at >= last.at - windowMs);
    return first && first !== last ? [first, last] : undefined;
  }

  /** Change of a queue's ready count per minute over the window; null without two readings of it. */
  queueTrend(queue: string, windowMs = RATE_WINDOW_MS): number | null {
    const w = this.window(windowMs);
    const a = w?.[0].queues.get(queue);
    const b = w?.[1].queues.get(queue);
    if (!w || a == null || b == null) return null;
    return ((b - a) / (w[1].at - w[0].at)) * 60_000;
  }

  /** Succeeded and failed per second, and the mean run time (s) of the runs in the window (null without runs). */
  taskRates(key: string, windowMs = RATE_WINDOW_MS): { succeeded: number; failed: number; meanSeconds: number | null } | null {
    const w = this.window(windowMs);
    const a = w?.[0].tasks.get(key);
    const b = w?.[1].tasks.get(key);
    if (!w || !b) return null;
    const from = a ?? { succeeded: 0, failed: 0, durationSum: 0, durationCount: 0 };
    const seconds = (w[1].at - w[0].at) / 1000;
    const runs = b.durationCount >= from.durationCount ? b.durationCount - from.durationCount : b.durationCount;
    const time = b.durationCount >= from.durationCount ? b.durationSum - from.durationSum : b.durationSum;
    return {
      succeeded: counterRate(from.succeeded, b.succeeded, seconds),
      failed: counterRate(from.failed, b.failed, seconds),
      meanSeconds: runs > 0 ? time / runs : null,
    };
  }

  /** Per sample, each consecutive pair's succeeded-per-second of a task (0 for the first), for the chart. */
  taskSeries(key: string): number[] {
    return this.samples.map((s, i) => {
      const prev = this.samples[i - 1];
      const b = s.tasks.get(key);
      if (!prev || !b) return 0;
      const a = prev.tasks.get(key) ?? { succeeded: 0, failed: 0 };
      const seconds = (s.at - prev.at) / 1000;
      return counterRate(a.succeeded, b.succeeded, seconds) + counterRate(a.failed, b.failed, seconds);
    });
  }
}
