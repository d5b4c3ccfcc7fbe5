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

function docstring(text: string, indent: string): string {
  return `${indent}"""${text.replace(/\\/g, '\\\\').replace(/"""/g, '\\"\\"\\"')}"""`;
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

function delegateDef(t: TaskModel): string {
  const table = pythonNames.versions(t);
  const known = t.versions.map((v) => v.version).join(', ');
  return [
    `${table} = {${t.versions.map((v) => `${v.version}: (${pythonNames.task(t, v)}, ${py(v.queue)})`).join(', ')}}`,
    '',
    '',
    `def ${pythonNames.delegate(t)}(version, *args, kwargs=None, **options):`,
    docstring(
      `Send the given version of ${snake(t.key)} with that version's positional args. ` +
        'The queue and the JSON serializer are filled in; other options go to apply_async.',
      '    ',
    ),
    '    try:',
    `        task, queue = ${table}[int(version)]`,
    '    except (KeyError, TypeError, ValueError):',
    `        raise ValueError(${py(`${snake(t.key)} has no version %r; known versions: ${known}`)} % (version,)) from None`,
    "    options.setdefault('queue', queue)",
    "    options.setdefault('serializer', 'json')",
    // One frame deeper than a direct call, so a deprecation warning points at the delegate's caller.
    '    return task.apply_async(args, kwargs, _stacklevel=3, **options)',
  ].join('\n');
}

/** The base of every task in the module: sending a version the contract deprecates warns the sender. */
const BINDING_TASK = [
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
  '        return super().apply_async(args, kwargs, **options)',
].join('\n');

/** The seed's bindings.py, generated: signature-only Celery tasks for every version plus the delegates. */
export function pythonModule(s: ServiceModel, header: string): string {
  const intro = [
    `Celery bindings for the ${s.service} service, contract version ${s.version}.`,
    ...(s.description ? ['', s.description] : []),
    '',
    'Signature-only tasks: they run in the service. Send them with apply_async(args, queue=..., serializer="json"),',
    'or through a delegate_* function, which maps a version to its task and fills in queue and serializer.',
  ].join('\n');
  const blocks = s.tasks.flatMap((t) => [...t.versions.map((v) => taskDef(s, t, v)), delegateDef(t)]);
  return [
    header.replace(/^\/\//, '#'),
    `"""${intro}\n"""`,
    'import warnings',
    '',
    'from celery import Task, shared_task',
    '',
    `SERVICE = ${py(s.service)}`,
    `VERSION = ${py(s.version)}`,
    '',
    '',
    BINDING_TASK,
    '',
    '',
    blocks.join('\n\n\n'),
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
