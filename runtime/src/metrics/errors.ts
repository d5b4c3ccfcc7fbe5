import { describeCause, TaskbusError } from '../errors.js';

/** Metrics options that cannot work: bad buckets or port, a registry that already holds taskbus metrics of another kind. */
export class MetricsConfigError extends TaskbusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_METRICS_CONFIG', message, options);
  }
}

/** The metrics endpoint could not listen (port taken, address not local, ...). */
export class MetricsServerError extends TaskbusError {
  constructor(host: string, port: number, cause: unknown) {
    super('E_METRICS_LISTEN', `cannot serve metrics on ${host}:${port} (${describeCause(cause)})`, { cause });
  }
}
