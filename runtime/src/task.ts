import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ContractValidationError, type ValidationIssue } from './errors.js';
import type { QueueType } from './topology/queue-type.js';

/** One version of a task as a contract declares it (the shape generated bindings pass in). */
export interface TaskDefinition {
  /** Celery task name, e.g. `pusher.send_to_s3_v2`. */
  readonly name: string;
  /** The contract's version number of this task (generated bindings set it); labels metrics. */
  readonly version?: number;
  readonly queue: string;
  /** The type of the queue when taskbus has to create it (default classic); an existing queue is used as it is. */
  readonly queueType?: QueueType;
  /** Positional arguments in order: Celery passes args positionally. */
  readonly args: Readonly<Record<string, TSchema>>;
  /** Keyword arguments as one object schema; keys it does not list are refused, as Python would. */
  readonly kwargs?: TObject;
  readonly result: TSchema;
  /** What a worker does when the handler throws; default: no retry, straight to the dead-letter queue. */
  readonly retry?: RetryPolicy;
  /** The contract marks this version deprecated (`true` or a note such as 'use v2'): workers log its first use per caller. */
  readonly deprecated?: true | string;
}

/** Attempts in all (1 = no retry), with exponential backoff between them: initial, 2x, 4x, ... capped. */
export interface RetryPolicy {
  readonly maxAttempts: number;
  /** Delay before the second attempt (default 1 s). */
  readonly initialDelayMs?: number;
  /** Cap on the delay (default 5 minutes). */
  readonly maxDelayMs?: number;
}

const NO_RETRY: Required<RetryPolicy> = { maxAttempts: 1, initialDelayMs: 1000, maxDelayMs: 300_000 };

/** Delay before the next attempt after `retries` failed ones; a small set of values, so few delay queues exist. */
export function retryDelayMs(policy: Required<RetryPolicy>, retries: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** retries);
}

/**
 * A task ready to be called or served: its definition plus validators compiled once.
 * The type parameters carry the argument tuple, kwargs and result types to callers and handlers.
 */
export interface TaskSpec<A extends readonly unknown[], K extends object, R> {
  readonly name: string;
  /** The contract version; undefined for specs defined without one (see versionLabel). */
  readonly version?: number;
  readonly queue: string;
  readonly queueType: QueueType;
  readonly argNames: readonly string[];
  readonly retry: Required<RetryPolicy>;
  /** As in the definition; undefined when the version is not deprecated. */
  readonly deprecated?: true | string;
  /** Throws ContractValidationError listing every violation. */
  assertArgs(args: readonly unknown[], kwargs: object): void;
  /** Violations of the result schema, empty when valid. */
  checkResult(result: unknown): readonly ValidationIssue[];
  /** Phantom field for type inference only; always undefined at run time. */
  readonly types?: { args: A; kwargs: K; result: R };
}

/** Compiles a task definition's validators. Call once per task at start-up (generated bindings do). */
export function defineTask<A extends readonly unknown[], K extends object, R>(def: TaskDefinition): TaskSpec<A, K, R> {
  const argNames = Object.keys(def.args);
  const argsCheck = TypeCompiler.Compile(Type.Tuple(Object.values(def.args)));
  const kwargsCheck = TypeCompiler.Compile({ ...(def.kwargs ?? Type.Object({})), additionalProperties: false });
  const resultCheck = TypeCompiler.Compile(def.result);
  const argPath = (path: string) => path.replace(/^\/(\d+)/, (_, i: string) => argNames[Number(i)] ?? `#${i}`);
  return {
    name: def.name,
    ...(def.version !== undefined ? { version: def.version } : {}),
    queue: def.queue,
    queueType: def.queueType ?? 'classic',
    argNames,
    retry: { ...NO_RETRY, ...def.retry },
    ...(def.deprecated !== undefined ? { deprecated: def.deprecated } : {}),
    assertArgs(args, kwargs) {
      const issues = [...issuesOf(argsCheck, args, argPath), ...issuesOf(kwargsCheck, kwargs, (p) => `kwargs${p}`)];
      if (args.length !== argNames.length) {
        issues.unshift({ path: '', message: `expected ${argNames.length} positional arguments (${argNames.join(', ')}), got ${args.length}` });
      }
      if (issues.length > 0) throw new ContractValidationError(def.name, issues);
    },
    checkResult: (result) => issuesOf(resultCheck, result, (p) => `result${p}`),
  };
}

function issuesOf(check: TypeCheck<TSchema>, value: unknown, path: (p: string) => string): ValidationIssue[] {
  if (check.Check(value)) return [];
  return [...check.Errors(value)].map((e) => ({ path: path(e.path).replace(/^\//, '').replaceAll('/', '.'), message: e.message }));
}

/** A task known only by name (as `celery call` knows it): arguments and result pass through unchecked. */
export function untypedTask(name: string, queue: string, queueType: QueueType = 'classic'): TaskSpec<unknown[], Record<string, unknown>, unknown> {
  return { name, queue, queueType, argNames: [], retry: NO_RETRY, assertArgs: () => undefined, checkResult: () => [] };
}

/**
 * Python binds keyword arguments to named parameters: `send_to_s3(key='k', content='c')` is the same call
 * as `send_to_s3('k', 'c')`, and Python callers send either. Moves kwargs named like the missing
 * positional parameters into place, in order, as Python would; what is left stays a kwarg.
 */
export function bindArguments(
  argNames: readonly string[],
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
): { args: unknown[]; kwargs: Record<string, unknown> } {
  const bound = [...args];
  const rest = { ...kwargs };
  for (const name of argNames.slice(args.length)) {
    if (!Object.hasOwn(rest, name)) break;
    bound.push(rest[name]);
    delete rest[name];
  }
  return { args: bound, kwargs: rest };
}
