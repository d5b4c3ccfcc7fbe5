import { TaskbusError } from '@taskbus/runtime';

/**
 * Runs a service's entry point: a taskbus error (broker down, login refused) becomes one clear line on
 * stderr and exit code 1 instead of a stack trace.
 */
export function main(name: string, run: () => Promise<void>): void {
  run().catch((e: unknown) => {
    if (e instanceof TaskbusError) process.stderr.write(`${name}: ${e.message}\n`);
    else process.stderr.write(`${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}

/** A positive integer from the environment, or the default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new TaskbusError('E_CONFIG', `${name} must be a non-negative integer, got "${raw}"`);
  return n;
}

/**
 * Where to serve Prometheus metrics: METRICS_PORT (0 picks a free port) and METRICS_HOST (default
 * 127.0.0.1); undefined when METRICS_PORT is unset, and then nothing is served.
 */
export function metricsFromEnv(): { readonly port: number; readonly host?: string } | undefined {
  if (process.env['METRICS_PORT'] === undefined || process.env['METRICS_PORT'] === '') return undefined;
  const host = process.env['METRICS_HOST'];
  return { port: envInt('METRICS_PORT', 0), ...(host ? { host } : {}) };
}
