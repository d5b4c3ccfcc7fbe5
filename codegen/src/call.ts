import { connectClient, untypedTask, type CallOptions } from '@taskbus/runtime';
import { UsageError } from './errors.js';

export interface CallCommand {
  readonly task: string;
  readonly args: string | undefined;
  readonly kwargs: string | undefined;
  readonly queue: string;
  readonly countdown: string | undefined;
  readonly expires: string | undefined;
  readonly wait: boolean;
  readonly timeout: string;
}

function parseJson<T>(what: string, text: string, check: (v: unknown) => v is T, shape: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`${what} is not valid JSON: ${text}`);
  }
  if (!check(value)) throw new UsageError(`${what} must be a JSON ${shape}, got ${text}`);
  return value;
}

function seconds(what: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${what} must be a number of seconds, got "${text}"`);
  return n;
}

const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Sends one task by name, like `celery call`, to any worker (Python or TypeScript). Prints the task id,
 * and with `wait` the result as JSON on stdout. Failures throw typed errors for the CLI to report.
 */
export async function callTask(c: CallCommand, print: (line: string) => void): Promise<void> {
  const args = c.args === undefined ? [] : parseJson('args', c.args, isArray, 'array');
  const kwargs = c.kwargs === undefined ? {} : parseJson('--kwargs', c.kwargs, isObject, 'object');
  const timeoutMs = seconds('--timeout', c.timeout) * 1000;
  const options: CallOptions = {
    ...(c.countdown !== undefined ? { countdown: seconds('--countdown', c.countdown) } : {}),
    ...(c.expires !== undefined ? { expires: seconds('--expires', c.expires) } : {}),
    ignoreResult: !c.wait,
  };
  const client = await connectClient({ connectionName: 'taskbus call' });
  try {
    const sent = await client.send(untypedTask(c.task, c.queue), args, kwargs, options);
    print(sent.id);
    if (c.wait) print(JSON.stringify(await sent.result({ timeoutMs })));
  } finally {
    await client.close();
  }
}
