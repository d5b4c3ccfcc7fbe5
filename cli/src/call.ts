import { existsSync } from 'node:fs';
import { taskCatalog, type TaskVersion } from '@taskbus/codegen';
import { connectClient, defineTask, untypedTask, type CallOptions, type TaskSpec } from '@taskbus/runtime';
import { UsageError } from './errors.js';
import { loadContracts } from './files.js';

export interface CallCommand {
  readonly task: string;
  readonly args: string | undefined;
  readonly kwargs: string | undefined;
  /** --queue; undefined: the contract's queue, or `celery` for a task no contract declares. */
  readonly queue: string | undefined;
  readonly contracts: string;
  /** --contracts was given: a missing directory is then an error, not "no contracts". */
  readonly contractsGiven: boolean;
  readonly countdown: string | undefined;
  readonly expires: string | undefined;
  readonly wait: boolean;
  readonly timeout: string;
}

export interface CallOutput {
  /** stdout: the task id, then the result. */
  readonly print: (line: string) => void;
  /** stderr: warnings. */
  readonly warn: (line: string) => void;
}

/** Where `celery call` sends a task when no queue is given. */
const CELERY_DEFAULT_QUEUE = 'celery';

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

/** Ten years: beyond it a time would not fit in a Date, and no task waits that long. */
const MAX_SECONDS = 10 * 365 * 86_400;

function seconds(what: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > MAX_SECONDS) throw new UsageError(`${what} must be a number of seconds from 0 to ${MAX_SECONDS}, got "${text}"`);
  return n;
}

const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The contract's version of a task, by Celery name; undefined when no contract in the directory declares it. */
async function findInContracts(c: CallCommand): Promise<TaskVersion | undefined> {
  if (!existsSync(c.contracts)) {
    if (c.contractsGiven) throw new UsageError(`contracts directory "${c.contracts}" does not exist (pass --contracts <dir>)`);
    return undefined;
  }
  return taskCatalog(await loadContracts(c.contracts)).get(c.task);
}

/**
 * Sends one task by name, like `celery call`, to any worker (Python or TypeScript). A task the contracts
 * declare goes to its queue with its arguments checked first (ContractValidationError, nothing sent); any
 * other goes out unchecked, with a warning. Prints the task id, and with `wait` the result as JSON.
 */
export async function callTask(c: CallCommand, out: CallOutput): Promise<void> {
  const args = c.args === undefined ? [] : parseJson('args', c.args, isArray, 'array');
  const kwargs = c.kwargs === undefined ? {} : parseJson('--kwargs', c.kwargs, isObject, 'object');
  const timeoutMs = seconds('--timeout', c.timeout) * 1000;
  const options: CallOptions = {
    ...(c.countdown !== undefined ? { countdown: seconds('--countdown', c.countdown) } : {}),
    ...(c.expires !== undefined ? { expires: seconds('--expires', c.expires) } : {}),
    ignoreResult: !c.wait,
  };
  if (c.queue === '') throw new UsageError('--queue must name a queue (it was empty)');
  const known = await findInContracts(c);
  let spec: TaskSpec<unknown[], object, unknown>;
  if (known) {
    // The contract's queue type describes its own queue only; another queue given with --queue is Celery's default.
    const queue = c.queue ?? known.queue;
    spec = defineTask({ ...known, queue, queueType: queue === known.queue ? known.queueType : 'classic' });
    // Before connecting: a bad call needs no broker, and nothing is sent.
    spec.assertArgs(args, kwargs);
  } else {
    spec = untypedTask(c.task, c.queue ?? CELERY_DEFAULT_QUEUE);
    out.warn(`taskbus: warning: no contract in ${c.contracts}/ declares task ${c.task}; sending it unchecked to queue ${spec.queue}, as celery call would`);
  }
  const client = await connectClient({ connectionName: 'taskbus call' });
  try {
    const sent = await client.send(spec, args, kwargs, options);
    out.print(sent.id);
    if (c.wait) out.print(JSON.stringify(await sent.result({ timeoutMs })));
  } finally {
    await client.close();
  }
}
