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
