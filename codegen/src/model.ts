import { KindGuard, type TObject, type TSchema } from '@sinclair/typebox';
import { QUEUE_TYPES, type QueueType } from '@taskbus/runtime/queues';
import { ContractDefinitionError } from './errors.js';

/** A contract file as the CLI read it: its path (relative, for messages), its text and its default export. */
export interface ContractSource {
  readonly file: string;
  readonly text: string;
  readonly exported: unknown;
}

export interface VersionModel {
  readonly version: number;
  /** Celery task name. */
  readonly name: string;
  readonly queue: string;
  /** The service's queue type, which every queue of the contract has when taskbus creates it. */
  readonly queueType: QueueType;
  readonly description: string | null;
  readonly args: readonly string[];
  readonly hasKwargs: boolean;
  /** The version's retry policy, or the task's; null for none (failures go straight to the dead-letter queue). */
  readonly retry: RetryModel | null;
  /** Set when the contract marks the version `deprecated` (`true` or a note such as 'use v2'). */
  readonly deprecated: Deprecation | null;
  /** The JSON Schemas (TypeBox schemas are JSON Schema) the compatibility gate compares. */
  readonly schemas: VersionSchemas;
}

export interface Deprecation {
  /** What to use instead; null for a bare `deprecated: true`. */
  readonly note: string | null;
}

export interface VersionSchemas {
  /** Positional arguments, in order. */
  readonly args: Readonly<Record<string, TSchema>>;
  readonly kwargs: TObject | null;
  readonly result: TSchema;
}

export interface RetryModel {
  readonly maxAttempts: number;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

export interface TaskModel {
  /** camelCase key in the contract; the v1 function is named after it. */
  readonly key: string;
  readonly description: string | null;
  readonly versions: readonly VersionModel[];
}

export interface ServiceModel {
  readonly service: string;
  /** npm name of the bindings package (may be scoped); its folder is always `<service>-bindings`. */
  readonly packageName: string;
  /** SPDX license of the bindings package. */
  readonly license: string;
  readonly version: string;
  readonly queue: string;
  /** `classic` (Celery's default) unless the contract says `queueType: 'quorum'`. */
  readonly queueType: QueueType;
  readonly description: string | null;
  readonly source: ContractSource;
  readonly tasks: readonly TaskModel[];
}

export const SERVICE_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
// npm's rules for new package names: lower case, URL-safe, optionally scoped, at most 214 characters.
const NPM_NAME = /^(?:@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/;
const LICENSE = /^[A-Za-z0-9][A-Za-z0-9.+:() -]{0,99}$/;
const SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const IDENTIFIER = /^[a-z][A-Za-z0-9]*$/;
const CELERY_NAME = /^[A-Za-z_][\w.-]*$/;
const QUEUE = /^[\w.:-]{1,200}$/;
/** Parameter names the generated functions use next to the task's own arguments. */
const RESERVED_ARGS = new Set(['args', 'kwargs', 'options', 'context', 'client', 'handlers', 'worker', 'version']);
/** Task keys the generated code already uses as names: the client's locals, and the Python module's shared_task and warnings. */
const RESERVED_TASK_KEYS = new Set([
  'args', 'call', 'client', 'version', 'sharedTask', 'warnings',
  // A client object with these keys would stop behaving as an object (a `then` makes it awaitable) and a
  // scaffolded class cannot have such methods.
  'then', ...Object.getOwnPropertyNames(Object.prototype),
]);
/** Python keywords cannot name parameters of the generated Python bindings. */
const PYTHON_KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(' '),
);
/** Words a strict-mode ES module cannot use as a parameter name, which the TypeScript client uses. */
const JS_RESERVED = new Set(
  'arguments await break case catch class const continue debugger default delete do else enum eval export extends false finally for function if implements import in instanceof interface let new null package private protected public return static super switch this throw true try typeof var void while with yield'.split(' '),
);

/** Checks one contract's shape and returns it normalised: tasks sorted by key, versions numerically. */
export function readContract(source: ContractSource): ServiceModel {
  const c = source.exported;
  const at = (...parts: string[]) => [source.file, ...parts].join(', ');
  if (!isRecord(c)) throw new ContractDefinitionError(source.file, 'the default export must be a contract object');
  const service = c['service'];
  if (typeof service !== 'string' || !SERVICE_NAME.test(service)) {
    throw new ContractDefinitionError(source.file, '"service" must be a lower-case name such as "pusher" or "image-resizer"');
  }
  const where = (...parts: string[]) => at(`service "${service}"`, ...parts);
  const version = c['version'];
  if (typeof version !== 'string' || !SEMVER.test(version)) {
    throw new ContractDefinitionError(where(), '"version" must be a semver string such as "1.0.0" (it versions the bindings package)');
  }
  const packageName = c['package'] ?? `${service}-bindings`;
  if (typeof packageName !== 'string' || packageName.length > 214 || !NPM_NAME.test(packageName)) {
    throw new ContractDefinitionError(where(), '"package" must be an npm package name such as "pusher-bindings" or "@acme/pusher-bindings"');
  }
  // Nobody may use unlicensed code, which is the only safe default for a service's own bindings.
  const license = c['license'] ?? 'UNLICENSED';
  if (typeof license !== 'string' || !LICENSE.test(license)) {
    throw new ContractDefinitionError(where(), '"license" must be an SPDX license expression such as "MIT"');
  }
  const queue = c['queue'];
  if (typeof queue !== 'string' || !QUEUE.test(queue)) throw new ContractDefinitionError(where(), '"queue" must be a queue name');
  const queueType = readQueueType(c['queueType'], where);
  const tasks = c['tasks'];
  if (!isRecord(tasks) || Object.keys(tasks).length === 0) throw new ContractDefinitionError(where(), '"tasks" must declare at least one task');

  const models = Object.keys(tasks)
    .sort()
    .map((key) => readTask(key, tasks[key], { queue, queueType }, (...p) => where(`task "${key}"`, ...p)));
  return { service, packageName, license, version, queue, queueType, description: optionalText(c['description']), source, tasks: models };
}

/** The service's queue; a version may send to another queue, of the same type. */
interface ServiceQueue {
  readonly queue: string;
  readonly queueType: QueueType;
}

function readQueueType(t: unknown, where: () => string): QueueType {
  if (t === undefined) return 'classic';
  const known = QUEUE_TYPES.find((q) => q === t);
  if (known) return known;
  throw new ContractDefinitionError(
    where(),
    `"queueType" must be ${QUEUE_TYPES.map((q) => `'${q}'`).join(' or ')} (got ${typeof t === 'string' ? JSON.stringify(t) : `a ${t === null ? 'null' : typeof t}`}); leave it out for classic, Celery's default`,
  );
}

function readTask(key: string, t: unknown, serviceQueue: ServiceQueue, where: (...p: string[]) => string): TaskModel {
  if (!IDENTIFIER.test(key)) throw new ContractDefinitionError(where(), 'task keys must be camelCase identifiers such as "sendToS3"');
  if (PYTHON_KEYWORDS.has(key) || JS_RESERVED.has(key) || RESERVED_TASK_KEYS.has(key)) {
    throw new ContractDefinitionError(where(), `"${key}" cannot name a task: the generated bindings would use it as a Python or TypeScript name that is reserved or taken`);
  }
  if (!isRecord(t) || !isRecord(t['versions'])) throw new ContractDefinitionError(where(), 'a task must have "versions": { 1: {...} }');
  const keys = Object.keys(t['versions']);
  const numbers = keys.map(Number).sort((a, b) => a - b);
  // Gaps are allowed: a deprecated version may be removed (taskbus check), and its number is never reused.
  if (keys.length === 0 || numbers.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new ContractDefinitionError(where(), 'versions must be keyed 1, 2, 3, ...');
  }
  const versions = t['versions'];
  return {
    key,
    description: optionalText(t['description']),
    versions: numbers.map((n) => {
      const at = (...p: string[]) => where(`version ${n}`, ...p);
      const version = readVersion(n, versions[String(n)], serviceQueue, at);
      return version.retry ? version : { ...version, retry: readRetry(t['retry'], () => where('retry')) };
    }),
  };
}

/**
 * A `$ref` (Type.Ref) points outside the schema: the runtime's compiled validators cannot resolve it and
 * the compatibility gate cannot see behind it. Contracts inline their schemas instead (share a const).
 */
function refuseRefs(schema: unknown, where: () => string): void {
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!isRecord(v)) return;
    if ('$ref' in v) throw new ContractDefinitionError(where(), `uses $ref "${String(v['$ref'])}" (Type.Ref): inline the schema instead, e.g. a shared const`);
    Object.values(v).forEach(visit);
  };
  visit(schema);
}

function readVersion(version: number, v: unknown, serviceQueue: ServiceQueue, where: (...p: string[]) => string): VersionModel {
  if (!isRecord(v)) throw new ContractDefinitionError(where(), 'a version must be an object with name, args and result');
  const name = v['name'];
  if (typeof name !== 'string' || !CELERY_NAME.test(name)) {
    throw new ContractDefinitionError(where(), '"name" must be the Celery task name, e.g. "pusher.send_to_s3"');
  }
  const queue = v['queue'] ?? serviceQueue.queue;
  if (typeof queue !== 'string' || !QUEUE.test(queue)) throw new ContractDefinitionError(where(), '"queue" must be a queue name');
  // Ignoring it would leave the author believing this version's queue had another type than the service's.
  if (v['queueType'] !== undefined) {
    throw new ContractDefinitionError(where('queueType'), 'the queue type is set once per service, next to its "queue"; remove it here');
  }
  const args = v['args'];
  if (!isRecord(args)) throw new ContractDefinitionError(where(), '"args" must map argument names, in order, to TypeBox schemas');
  for (const [arg, schema] of Object.entries(args)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(arg)) throw new ContractDefinitionError(where(`arg "${arg}"`), 'argument names must be identifiers');
    if (PYTHON_KEYWORDS.has(arg)) throw new ContractDefinitionError(where(`arg "${arg}"`), `"${arg}" is a Python keyword and cannot name a Celery argument`);
    if (JS_RESERVED.has(arg)) throw new ContractDefinitionError(where(`arg "${arg}"`), `"${arg}" is reserved in TypeScript and cannot name a parameter`);
    // The generated Python delegates keep their own helpers in _-names, which an argument must not shadow.
    if (arg.startsWith('_')) throw new ContractDefinitionError(where(`arg "${arg}"`), 'argument names starting with "_" are kept for the generated bindings');
    if (RESERVED_ARGS.has(arg)) throw new ContractDefinitionError(where(`arg "${arg}"`), `"${arg}" is reserved by the generated bindings; rename it`);
    if (!isSchema(schema)) throw new ContractDefinitionError(where(`arg "${arg}"`), 'is not a TypeBox schema (use Type.String(), Type.Object(...), ...)');
    refuseRefs(schema, () => where(`arg "${arg}"`));
  }
  const kwargs = v['kwargs'];
  if (kwargs !== undefined && !(isSchema(kwargs) && KindGuard.IsObject(kwargs))) {
    throw new ContractDefinitionError(where('kwargs'), 'must be a TypeBox Type.Object(...) schema');
  }
  const result = v['result'];
  if (!isSchema(result)) throw new ContractDefinitionError(where('result'), 'is missing or not a TypeBox schema (use Type.Null() for none)');
  if (kwargs !== undefined) refuseRefs(kwargs, () => where('kwargs'));
  refuseRefs(result, () => where('result'));
  const deprecated = v['deprecated'] ?? false;
  if (typeof deprecated !== 'boolean' && typeof deprecated !== 'string') {
    throw new ContractDefinitionError(where('deprecated'), "must be true or a note such as 'use v2'");
  }
  return {
    version,
    name,
    queue,
    queueType: serviceQueue.queueType,
    description: optionalText(v['description']),
    args: Object.keys(args),
    hasKwargs: kwargs !== undefined,
    retry: readRetry(v['retry'], () => where('retry')),
    deprecated: deprecated === false ? null : { note: deprecated === true ? null : optionalText(deprecated) },
    // Every argument was checked to be a schema above.
    schemas: { args: args as Record<string, TSchema>, kwargs: kwargs ?? null, result },
  };
}

function readRetry(r: unknown, where: () => string): RetryModel | null {
  if (r === undefined) return null;
  const whole = (v: unknown, min: number) => v === undefined || (Number.isInteger(v) && (v as number) >= min);
  if (!isRecord(r) || !Number.isInteger(r['maxAttempts']) || (r['maxAttempts'] as number) < 1 || !whole(r['initialDelayMs'], 1) || !whole(r['maxDelayMs'], 1)) {
    throw new ContractDefinitionError(where(), 'must be { maxAttempts: integer >= 1, initialDelayMs?: integer >= 1, maxDelayMs?: integer >= 1 }');
  }
  return {
    maxAttempts: r['maxAttempts'] as number,
    ...(r['initialDelayMs'] !== undefined ? { initialDelayMs: r['initialDelayMs'] as number } : {}),
    ...(r['maxDelayMs'] !== undefined ? { maxDelayMs: r['maxDelayMs'] as number } : {}),
  };
}

/** Fails when two versions anywhere share a Celery task name: a worker could not tell them apart. */
export function assertUniqueTaskNames(services: readonly ServiceModel[]): void {
  const seen = new Map<string, string>();
  for (const s of services) {
    for (const t of s.tasks) {
      for (const v of t.versions) {
        const here = `${s.source.file}, service "${s.service}", task "${t.key}", version ${v.version}`;
        const first = seen.get(v.name);
        if (first) throw new ContractDefinitionError(here, `duplicate task name "${v.name}" (also used by ${first})`);
        seen.set(v.name, here);
      }
    }
  }
}

/**
 * Fails when contracts give one queue two types: whichever service's bindings created it, the other's would
 * declare it differently and be refused by the broker.
 */
export function assertConsistentQueueTypes(services: readonly ServiceModel[]): void {
  const seen = new Map<string, { queueType: QueueType; where: string }>();
  for (const s of services) {
    for (const v of s.tasks.flatMap((t) => t.versions)) {
      const first = seen.get(v.queue);
      if (first && first.queueType !== v.queueType) {
        throw new ContractDefinitionError(
          `${s.source.file}, service "${s.service}"`,
          `queue "${v.queue}" is ${v.queueType} here but ${first.queueType} in ${first.where}; a queue has one type, so give both services the same "queueType"`,
        );
      }
      if (!first) seen.set(v.queue, { queueType: v.queueType, where: `${s.source.file}, service "${s.service}"` });
    }
  }
}

function isSchema(v: unknown): v is TSchema {
  return KindGuard.IsSchema(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalText(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}
