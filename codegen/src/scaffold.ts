import { basename } from 'node:path';
import { StructureKind, VariableDeclarationKind } from 'ts-morph';
import type { TSchema } from '@sinclair/typebox';
import { versionOf } from './catalog.js';
import { importFrom, label, print, quote } from './emit-ts.js';
import type { GeneratedFiles } from './generate.js';
import type { ServiceModel } from './model.js';
import { camelService, names, pascal } from './naming.js';

/** Scaffolded files are the user's from the start: no DO-NOT-EDIT line, and the CLI never overwrites them. */
function starterHeader(what: string): string {
  return `// Written once by \`taskbus ${what}\` as a starting point: yours to edit; taskbus never overwrites it.`;
}

/** A schema as compact JSON for a doc comment; `*\/` would end the comment early. */
function schemaDoc(schema: TSchema): string {
  return `\`${JSON.stringify(schema).replaceAll('*/', '*\\/')}\``;
}

const NOT_IMPLEMENTED = 'NotImplementedError';

/**
 * A starting implementation of a service's generated handlers interface: `handlers.ts`, a class with one
 * typed method per task version that throws NotImplementedError, and `main.ts`, which binds it to a worker
 * and runs it until SIGINT/SIGTERM. Pure: the model in, the two files' text out (relative paths).
 */
export function scaffoldWorker(s: ServiceModel): GeneratedFiles {
  const bindings = names.packageName(s);
  const className = `${pascal(camelService(s.service))}Worker`;
  const versions = s.tasks.flatMap((t) => t.versions.map((v) => ({ t, v, declared: versionOf(s, t, v) })));
  const header = starterHeader(`scaffold worker ${s.service}`);
  const handlers = print([
    `${header}\n// From ${basename(s.source.file)}: replace each method's body with the real work.`,
    importFrom('@taskbus/runtime', [], ['TaskContext']),
    importFrom(bindings, [], [names.handlersInterface(s), ...versions.flatMap(({ t, v }) => [names.argsType(t, v), names.resultType(t, v), ...(v.hasKwargs ? [names.kwargsType(t, v)] : [])])]),
    {
      kind: StructureKind.Class,
      isExported: true,
      name: NOT_IMPLEMENTED,
      extends: 'Error',
      docs: [`Thrown by each task not written yet; callers see it as the remote exception type \`${NOT_IMPLEMENTED}\`, as from Python.`],
      ctors: [
        {
          parameters: [{ name: 'task', type: 'string' }],
          statements: [`super(\`\${task} is not implemented yet: write it in ${className} (handlers.ts)\`);`, `this.name = ${quote(NOT_IMPLEMENTED)};`],
        },
      ],
    },
    {
      kind: StructureKind.Class,
      isExported: true,
      name: className,
      implements: [names.handlersInterface(s)],
      docs: [`The ${s.service} worker: one method per task version of the contract. Each returns the result (or throws to fail the task).`],
      methods: versions.map(({ t, v, declared }) => ({
        name: names.method(t, v),
        isAsync: true,
        docs: [
          [
            `Runs ${label(s, t, v)}.`,
            // An unescaped star-slash in the description would end the comment early.
            declared.description?.replace(/\*\//g, '*\\/'),
            [
              ...v.args.map((a) => `@param ${a} ${schemaDoc(declared.args[a]!)}`),
              ...(declared.kwargs ? [`@param kwargs ${schemaDoc(declared.kwargs)}`] : []),
              '@param context the delivery: task id, retries, whether it was redelivered, and `signal`, aborted at the soft time limit',
              `@returns ${schemaDoc(declared.result)}`,
            ].join('\n'),
          ]
            .filter(Boolean)
            .join('\n\n'),
        ],
        parameters: [
          ...v.args.map((a, i) => ({ name: a, type: `${names.argsType(t, v)}[${i}]` })),
          ...(v.hasKwargs ? [{ name: 'kwargs', type: names.kwargsType(t, v) }] : []),
          { name: 'context', type: 'TaskContext' },
        ],
        returnType: `Promise<${names.resultType(t, v)}>`,
        statements: [`throw new ${NOT_IMPLEMENTED}(${quote(v.name)});`],
      })),
    },
  ]);
  const main = print([
    header,
    importFrom('@taskbus/runtime', ['createWorker', 'runWorker']),
    importFrom(bindings, [names.bindHandlers(s)]),
    importFrom('./handlers.js', [className]),
    `\n// Serves every ${s.service} task version until SIGINT/SIGTERM, then drains. The broker comes from AMQP_URL (and AMQP_TLS_*).`,
    {
      kind: StructureKind.VariableStatement,
      declarationKind: VariableDeclarationKind.Const,
      declarations: [{ name: 'worker', initializer: `createWorker({ connectionName: ${quote(`${s.service} worker`)} })` }],
    },
    `${names.bindHandlers(s)}(worker, new ${className}());`,
    'await runWorker(worker);',
  ]);
  return new Map([
    ['handlers.ts', handlers],
    ['main.ts', main],
  ]);
}
