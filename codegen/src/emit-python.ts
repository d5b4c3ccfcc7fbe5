import { taskExchangeType, taskQueueArguments } from '@taskbus/runtime/queues';
import type { ServiceModel, TaskModel, VersionModel } from './model.js';
import { names } from './naming.js';
import { MARKER } from './ownership.js';

/** `sendToS3` -> `send_to_s3`, `image-resizer` -> `image_resizer` */
export function snake(s: string): string {
  return s
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
}

export const pythonNames = {
  module: (s: ServiceModel) => `${snake(s.service)}_bindings`,
  task: (t: TaskModel, v: VersionModel) => (v.version === 1 ? snake(t.key) : `${snake(t.key)}_v${v.version}`),
  delegate: (t: TaskModel) => `delegate_${snake(t.key)}`,
  versions: (t: TaskModel) => `_${snake(t.key).toUpperCase()}_VERSIONS`,
};

/** A Python string literal (JSON's escapes are valid Python). */
function py(s: string): string {
  return JSON.stringify(s);
}

/** A Python literal of a queue argument value: the runtime's arguments are strings, numbers and booleans. */
function pyValue(v: unknown): string {
  if (typeof v === 'string') return py(v);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  throw new TypeError(`cannot write queue argument ${String(v)} as a Python literal`);
}

/** A tuple literal of string literals (the trailing comma keeps a one-element tuple a tuple). */
function pyTuple(items: readonly string[]): string {
  return items.length === 1 ? `(${py(items[0]!)},)` : `(${items.map(py).join(', ')})`;
}

/**
 * A docstring whose `__doc__` is exactly `text`: backslashes, control characters (newlines and tabs stay
 * as they are) and any quote that would close the string (part of `""` or the last character) are escaped.
 */
function docstring(text: string, indent: string): string {
  const body = text.replace(/\\|"(?="|$)|[\0-\x08\x0b-\x1f\x7f]/g, (c) =>
    c === '\\' ? '\\\\' : c === '"' ? '\\"' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return `${indent}"""${body}"""`;
}

function taskDef(s: ServiceModel, t: TaskModel, v: VersionModel): string {
  const params = [...v.args, ...(v.hasKwargs ? ['**kwargs'] : [])].join(', ');
  const about = [v.description ?? t.description, `Runs in the ${s.service} service (queue ${py(v.queue)}); this is its signature only.`]
    .filter(Boolean)
    .join(' ');
  const deprecation = v.deprecated ? `, deprecation=${py(`${v.name} is deprecated${v.deprecated.note ? `: ${v.deprecated.note}` : ''}`)}` : '';
  return [
    `@shared_task(name=${py(v.name)}, base=_BindingTask${deprecation})`,
    `def ${pythonNames.task(t, v)}(${params}):`,
    docstring(about, '    '),
    `    raise NotImplementedError(${py(`${v.name} runs in the ${s.service} service; call it with apply_async() or ${pythonNames.delegate(t)}()`)})`,
  ].join('\n');
}

/**
 * The delegate's parameters, in the seed's shape `(key, content, version="1")`: v1's arguments first, required
 * as long as every version takes them, then the version, then what later versions add. An argument that only
 * some versions take defaults to _MISSING, and _delegate checks each version gets exactly its own.
 */
function delegateParams(t: TaskModel): string[] {
  const first = t.versions[0]!.args;
  const later = allArgs(t).filter((a) => !first.includes(a));
  const optionalFrom = first.findIndex((a) => !t.versions.every((v) => v.args.includes(a)));
  return [
    ...first.map((a, i) => (optionalFrom === -1 || i < optionalFrom ? a : `${a}=_MISSING`)),
    'version="1"',
    ...later.map((a) => `${a}=_MISSING`),
    ...(takesKwargs(t) ? ['*', 'kwargs=None'] : []),
    '**options',
  ];
}

/** Every argument name of every version, in order of first appearance. */
function allArgs(t: TaskModel): string[] {
  return [...new Set(t.versions.flatMap((v) => v.args))];
}

function takesKwargs(t: TaskModel): boolean {
  return t.versions.some((v) => v.hasKwargs);
}

function delegateDef(t: TaskModel): string {
  const table = pythonNames.versions(t);
  const each = t.versions.map((v) => `"${v.version}" with ${v.args.length > 0 ? v.args.join(', ') : 'no arguments'}${v.hasKwargs ? ' and kwargs=' : ''}`);
  return [
    // Keyed by the version as text, like the seed's version_map; each entry: task, queue (its name, or its Queue
    // when it must be declared with arguments), its arguments in order, whether it takes kwargs.
    `${table} = {`,
    ...t.versions.map((v) => `    "${v.version}": (${pythonNames.task(t, v)}, ${queueRef(v)}, ${pyTuple(v.args)}, ${v.hasKwargs ? 'True' : 'False'}),`),
    '}',
    '',
    '',
    `def ${pythonNames.delegate(t)}(${delegateParams(t).join(', ')}):`,
    docstring(
      `Sends ${snake(t.key)} as the given version: ${each.join('; ')}. ` +
        'The queue and the JSON serializer are filled in; other keyword arguments go to apply_async.',
      '    ',
    ),
    `    return _delegate(${py(snake(t.key))}, ${table}, version, {${allArgs(t).map((a) => `${py(a)}: ${a}`).join(', ')}}, ${takesKwargs(t) ? 'kwargs' : 'None'}, options)`,
  ].join('\n');
}

/** Emitted once per module: the checks every delegate shares. */
const DELEGATE_HELPERS = `class _Missing:
    """The default of an argument that only some versions take."""

    def __repr__(self):
        return "<not given>"


_MISSING = _Missing()


def _delegate(name, versions, version, given, kwargs, options):
    # Only a version's exact text or int names it: int() would take 2.9 for 2 and True for 1.
    key = version if isinstance(version, str) else str(version) if type(version) is int else None
    if key not in versions:
        raise ValueError("%s has no version %r; known versions: %s" % (name, version, ", ".join(versions)))
    task, queue, params, takes_kwargs = versions[key]
    missing = [p for p in params if given[p] is _MISSING]
    if missing:
        raise TypeError("%s version %s needs %s" % (name, key, ", ".join(missing)))
    extra = [p for p in given if p not in params and given[p] is not _MISSING]
    if extra:
        raise TypeError("%s version %s takes no %s (it takes %s)" % (name, key, ", ".join(extra), ", ".join(params) or "no arguments"))
    if kwargs is not None and not takes_kwargs:
        raise TypeError("%s version %s takes no kwargs" % (name, key))
    options.setdefault("queue", queue)
    options.setdefault("serializer", "json")
    # _stacklevel: a DeprecationWarning points past _delegate and the delegate_* function, at their caller.
    return task.apply_async(tuple(given[p] for p in params), kwargs, _stacklevel=4, **options)`;

/**
 * The base of every task in the module: sending a version the contract deprecates warns the sender. With
 * queues that need arguments (quorum), a queue given by name is sent as its Queue, which Celery declares
 * with those arguments on publish; by name it would declare the queue without them and be refused (406).
 */
function bindingTask(s: ServiceModel): string {
  return [
    'class _BindingTask(Task):',
    '    """A signature-only task; sending one the contract deprecates warns with DeprecationWarning."""',
    '',
    '    deprecation = None',
    '',
    '    def delay(self, *args, **kwargs):',
    '        return self.apply_async(args, kwargs, _stacklevel=3)',
    '',
    '    def apply_async(self, args=None, kwargs=None, _stacklevel=2, **options):',
    '        if self.deprecation:',
    '            warnings.warn(self.deprecation, DeprecationWarning, stacklevel=_stacklevel)',
    ...(declaredQueues(s).length > 0
      ? [
          '        queue = options.get("queue")',
          '        if isinstance(queue, str) and queue in _QUEUES_BY_NAME:',
          '            options["queue"] = _QUEUES_BY_NAME[queue]',
        ]
      : []),
    '        return super().apply_async(args, kwargs, **options)',
  ].join('\n');
}

/** The queues of the contract that Celery must declare with arguments (all, when quorum), sorted by name. */
function declaredQueues(s: ServiceModel): string[] {
  if (s.queueType === 'classic') return [];
  return [...new Set(s.tasks.flatMap((t) => t.versions.map((v) => v.queue)))].sort();
}

/** How a version table names its queue: by name when Celery declares it right by name, else its Queue. */
function queueRef(v: VersionModel): string {
  return v.queueType === 'classic' ? py(v.queue) : `_QUEUES_BY_NAME[${py(v.queue)}]`;
}

/**
 * `QUEUES`: each queue as taskbus creates it (runtime/src/topology/queue-type.ts is the one source of the
 * arguments), with the exchange of the same name; none for a classic contract, whose queues Celery's defaults fit.
 */
function queuesBlock(s: ServiceModel): string[] {
  const queues = declaredQueues(s);
  if (queues.length === 0) return [];
  const entry = (q: string) => {
    const args = Object.entries(taskQueueArguments(q, s.queueType)).map(([k, x]) => `${py(k)}: ${pyValue(x)}`);
    return `    Queue(${py(q)}, Exchange(${py(q)}, type=${py(taskExchangeType(s.queueType))}), routing_key=${py(q)}, queue_arguments={${args.join(', ')}}),`;
  };
  return [
    `# The ${s.queueType} queues of the ${s.service} service, declared exactly as taskbus creates them. Put these in your Celery`,
    "# app's task_queues (app.conf.task_queues = (*QUEUES, ...)) so that every task sent to them by name, from any",
    '# module, declares them the same way: Celery re-declares a queue on publish, and RabbitMQ refuses a declaration',
    '# with other arguments (406 PRECONDITION_FAILED). The tasks and delegates below use them either way.',
    'QUEUES = (',
    ...queues.map(entry),
    ')',
    '_QUEUES_BY_NAME = {q.name: q for q in QUEUES}',
    '',
  ];
}

/** The seed's bindings.py, generated: signature-only Celery tasks for every version plus the delegates. */
export function pythonModule(s: ServiceModel, header: string): string {
  const queues = queuesBlock(s);
  const intro = [
    `Celery bindings for the ${s.service} service, contract version ${s.version}.`,
    ...(s.description ? ['', s.description] : []),
    '',
    'Signature-only tasks: they run in the service. Send them with apply_async(args, queue=..., serializer="json"),',
    'or through a delegate_* function, which maps a version to its task and fills in queue and serializer.',
    ...(queues.length > 0 ? [`Its queues are ${s.queueType} queues: put QUEUES in your Celery app's task_queues.`] : []),
  ].join('\n');
  const blocks = s.tasks.flatMap((t) => [...t.versions.map((v) => taskDef(s, t, v)), delegateDef(t)]);
  return [
    header.replace(/^\/\//, '#'),
    docstring(`${intro}\n`, ''),
    'import warnings',
    '',
    'from celery import Task, shared_task',
    ...(queues.length > 0 ? ['from kombu import Exchange, Queue'] : []),
    '',
    `SERVICE = ${py(s.service)}`,
    `VERSION = ${py(s.version)}`,
    '',
    ...queues,
    '',
    [bindingTask(s), DELEGATE_HELPERS, ...blocks].join('\n\n\n'),
    '',
  ].join('\n');
}

export function pyproject(s: ServiceModel): string {
  return [
    `# ${MARKER}.`,
    '[build-system]',
    'requires = ["setuptools>=61"]',
    'build-backend = "setuptools.build_meta"',
    '',
    '[project]',
    // PEP 508 names cannot hold the `@` and `/` of a scoped npm name: the distribution is named after the folder.
    `name = ${py(names.packageDir(s))}`,
    `version = ${py(s.version)}`,
    `description = ${py(`Celery bindings for the ${s.service} service (generated by taskbus)`)}`,
    'dependencies = ["celery>=5.2"]',
    '',
    '[tool.setuptools]',
    `py-modules = [${py(pythonNames.module(s))}]`,
    '',
  ].join('\n');
}
