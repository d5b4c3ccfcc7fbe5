import type { Registry } from 'prom-client';
import { MetricsConfigError } from './errors.js';
import type { WorkerMetricsOptions } from './options.js';
import { newRegistry, registerWorkerStats } from './registry.js';
import { serveMetrics, type MetricsServer } from './server.js';
import { DEFAULT_DURATION_BUCKETS, WorkerStats } from './stats.js';

/** Checked when the worker is created: a bad bucket list must fail before anything connects. */
export function workerStatsFor(options: WorkerMetricsOptions | undefined): WorkerStats {
  const buckets = options?.durationBuckets ?? DEFAULT_DURATION_BUCKETS;
  const ascending = buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > buckets[i - 1]!));
  if (buckets.length === 0 || !ascending) {
    throw new MetricsConfigError(`metrics.durationBuckets must be finite numbers in ascending order, got [${buckets.join(', ')}]`);
  }
  return new WorkerStats(buckets);
}

/** A worker's stats reported into a registry and, when a port is given, served over HTTP. */
export class WorkerMetrics {
  private constructor(
    readonly registry: Registry,
    readonly server: MetricsServer | null,
  ) {}

  static async start(stats: WorkerStats, options: WorkerMetricsOptions): Promise<WorkerMetrics> {
    const registry = options.registry ?? (await newRegistry());
    const detach = await registerWorkerStats(registry, stats);
    try {
      const server = options.port === undefined ? null : await serveMetrics(registry, { port: options.port, ...(options.host ? { host: options.host } : {}) });
      return new WorkerMetrics(registry, server);
    } catch (e) {
      detach(); // a worker that failed to start reports nothing
      throw e;
    }
  }

  /** Stops serving; the counts stay in the registry (a scrape after stop still sees the last values). */
  async close(): Promise<void> {
    await this.server?.close();
  }
}
