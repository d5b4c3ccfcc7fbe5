import type { Registry } from 'prom-client';

/** Metrics for a client: counted always (plain numbers), reported to prom-client only when this is given. */
export interface MetricsOptions {
  /**
   * The prom-client registry to register in; share one between a client and a worker to serve both from one
   * endpoint. Default: a new registry of this client's or worker's own, never prom-client's global one.
   */
  readonly registry?: Registry;
}

/** Metrics for a worker, optionally served over HTTP. */
export interface WorkerMetricsOptions extends MetricsOptions {
  /** Serve the registry at `http://host:port/metrics` from start() to stop(); 0 picks a free port (see `worker.metricsPort`). */
  readonly port?: number;
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Upper bounds of the handler duration histogram, in seconds (default prom-client's: 0.005 ... 10). */
  readonly durationBuckets?: readonly number[];
}
