import { basename } from 'node:path';
import {
  type CodeBlockWriter,
  IndentationText,
  NewLineKind,
  printStructure,
  Project,
  QuoteKind,
  StructureKind,
  VariableDeclarationKind,
  Writers,
  type ImportDeclarationStructure,
  type JSDocTagStructure,
  type StatementStructures,
  type WriterFunction,
} from 'ts-morph';
import type { ServiceModel, TaskModel, VersionModel } from './model.js';
import { names } from './naming.js';
import { MARKER } from './ownership.js';

/** One shared in-memory project: formatting only, nothing touches the disk. */
const project = new Project({
  useInMemoryFileSystem: true,
  manipulationSettings: {
    indentationText: IndentationText.TwoSpaces,
    quoteKind: QuoteKind.Single,
    newLineKind: NewLineKind.LineFeed,
    useTrailingCommas: true,
  },
});

export function header(s: Pick<ServiceModel, 'source'>): string {
  return `// ${MARKER} from ${basename(s.source.file)}; edit the contract and regenerate.`;
}

/**
 * What only TypeScript's formatter lays out as it likes in contract text (doc comments, strings): line breaks
 * other than \n, whitespace other than a space, a space ending a line, and a `/*` after the start of a line, which
 * ts-morph's writer takes for a comment (a doc comment's own `/**` starts its line). The emitters' own code has none.
 */
const FORMATTER_TEXT = /[\r\t\v\f\u0085\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]| \n|^ *\S.*\/\*/m;

/**
 * The statements as ts-morph prints them, which is already how TypeScript's formatter lays them out (the emitters
 * write their code so); the formatter, which costs more than the printing, runs only where contract text could
 * make it change something.
 */
export function print(statements: (string | WriterFunction | StatementStructures)[]): string {
  const text = printStructure({ kind: StructureKind.SourceFile, statements }, { indentNumberOfSpaces: 2, newLine: '\n', useSingleQuote: true });
  if (!FORMATTER_TEXT.test(text)) return text;
  const file = project.createSourceFile('/out.ts', text, { overwrite: true });
  file.formatText({ indentSize: 2, tabSize: 2, convertTabsToSpaces: true, ensureNewLineAtEndOfFile: true });
  return file.getFullText();
}

/**
 * `const name = initializer;` laid out as TypeScript's formatter lays it out: a variable statement structure would
 * hang a multi-line initializer (an object) one level in, which only the formatter would take back.
 */
function constStatement(d: { name: string; type?: string; exported?: boolean; doc?: string; initializer: WriterFunction }): WriterFunction {
  return (w) => {
    // One line of our own text, as ts-morph prints a one-line doc.
    if (d.doc !== undefined) w.writeLine(`/** ${d.doc} */`);
    w.write(`${d.exported ? 'export ' : ''}const ${d.name}${d.type === undefined ? '' : `: ${d.type}`} = `);
    d.initializer(w);
    w.write(';');
  };
}

export function importFrom(moduleSpecifier: string, named: string[], typeOnly: string[] = []): ImportDeclarationStructure {
  return {
    kind: StructureKind.ImportDeclaration,
    moduleSpecifier,
    namedImports: [...named.map((name) => ({ name })), ...typeOnly.map((name) => ({ name, isTypeOnly: true }))].sort(byName),
  };
}

/** Code-point order: the same on every machine, unlike localeCompare. */
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function label(s: ServiceModel, t: TaskModel, v: VersionModel): string {
  return `\`${v.name}\` (${s.service} ${t.key} v${v.version}, queue \`${v.queue}\`)`;
}

/** `@deprecated` for a version the contract deprecates, so editors strike its calls through. */
function deprecatedTag(v: VersionModel): JSDocTagStructure[] {
  // A `*/` in the note would end the comment early.
  return v.deprecated ? [{ kind: StructureKind.JSDocTag, tagName: 'deprecated', text: v.deprecated.note?.replaceAll('*/', '*\\/') }] : [];
}

// A version's description as JSDoc text: an unescaped star-slash in it would end the comment.
function description(t: TaskModel, v: VersionModel): string | null {
  return (v.description ?? t.description)?.replace(/\*\//g, '*\\/') ?? null;
}

function eachVersion<T>(s: ServiceModel, f: (t: TaskModel, v: VersionModel) => T): T[] {
  return s.tasks.flatMap((t) => t.versions.map((v) => f(t, v)));
}

/** The task specs and the per-version types that the client and worker files use. */
function importFromTasks(s: ServiceModel): ImportDeclarationStructure {
  const specs = eachVersion(s, (t, v) => names.spec(t, v));
  const types = eachVersion(s, (t, v) => [names.argsType(t, v), names.resultType(t, v), ...(v.hasKwargs ? [names.kwargsType(t, v)] : [])]).flat();
  return importFrom('./tasks.js', specs, types);
}

/** A version's arguments as a labelled tuple, its kwargs object if any, then `last` (options or context). */
function parameterTuple(t: TaskModel, v: VersionModel, last: string): string {
  return `[...${names.argsType(t, v)}, ${v.hasKwargs ? `kwargs: ${names.kwargsType(t, v)}, ` : ''}${last}]`;
}

/** The contract, copied so the published package is self-contained (it imports only TypeBox). */
export function contractFile(s: Pick<ServiceModel, 'source'>): string {
  return `${header(s)}\n${s.source.text.replace(/\r\n/g, '\n')}`;
}

/** Argument, kwargs and result types, plus each version's compiled task spec. */
export function tasksFile(s: ServiceModel): string {
  const statements: (string | WriterFunction | StatementStructures)[] = [
    header(s),
    importFrom('@sinclair/typebox', [], ['Static']),
    importFrom('@taskbus/runtime', ['defineTask']),
    { kind: StructureKind.ImportDeclaration, moduleSpecifier: './contract.js', defaultImport: 'contract' },
  ];
  for (const t of s.tasks) {
    for (const v of t.versions) {
      const c = names.versionConst(t, v);
      const types = [names.argsType(t, v), names.kwargsType(t, v), names.resultType(t, v)];
      statements.push(
        {
          kind: StructureKind.VariableStatement,
          declarationKind: VariableDeclarationKind.Const,
          declarations: [{ name: c, initializer: `contract.tasks.${t.key}.versions[${v.version}]` }],
        },
        {
          kind: StructureKind.TypeAlias,
          isExported: true,
          name: names.argsType(t, v),
          docs: [`Positional arguments of ${label(s, t, v)}, in Celery's order.`],
          type: `[${v.args.map((a) => `${a}: Static<typeof ${c}.args.${a}>`).join(', ')}]`,
        },
        {
          kind: StructureKind.TypeAlias,
          isExported: true,
          name: names.kwargsType(t, v),
          type: v.hasKwargs ? `Static<typeof ${c}.kwargs>` : 'Record<string, never>',
        },
        { kind: StructureKind.TypeAlias, isExported: true, name: names.resultType(t, v), type: `Static<typeof ${c}.result>` },
        constStatement({
          exported: true,
          doc: `${label(s, t, v)} with its validators, compiled once.`,
          name: names.spec(t, v),
          initializer: (w) => {
            w.write(`defineTask<${types.join(', ')}>(`);
            Writers.object({
              name: quote(v.name),
              version: String(v.version),
              queue: quote(v.queue),
              // Classic is the runtime's default: classic bindings stay as they were before queue types.
              ...(v.queueType !== 'classic' ? { queueType: quote(v.queueType) } : {}),
              args: `${c}.args`,
              ...(v.hasKwargs ? { kwargs: `${c}.kwargs` } : {}),
              result: `${c}.result`,
              ...(v.retry ? { retry: Writers.object(Object.fromEntries(Object.entries(v.retry).map(([k, n]) => [k, String(n)]))) } : {}),
              ...(v.deprecated ? { deprecated: v.deprecated.note === null ? 'true' : JSON.stringify(v.deprecated.note) } : {}),
            })(w);
            w.write(')');
          },
        }),
      );
    }
  }
  return print(statements);
}

/** Typed client functions per version and the version delegate. */
export function clientFile(s: ServiceModel): string {
  const callTuple = (t: TaskModel, v: VersionModel) => parameterTuple(t, v, 'options?: CallOptions');
  const statements: (string | WriterFunction | StatementStructures)[] = [
    header(s),
    importFrom('@taskbus/runtime', ['UnknownVersionError'], ['CallOptions', 'SentTask', 'TaskClient']),
    importFromTasks(s),
  ];
  for (const t of s.tasks) {
    statements.push(
      {
        kind: StructureKind.Interface,
        isExported: true,
        name: names.callsType(t),
        docs: [`Arguments of each version of ${t.key}, then per-call options.`],
        properties: t.versions.map((v) => ({ name: String(v.version), type: callTuple(t, v) })),
      },
      {
        kind: StructureKind.Interface,
        isExported: true,
        name: names.resultsType(t),
        properties: t.versions.map((v) => ({ name: String(v.version), type: names.resultType(t, v) })),
      },
    );
  }
  statements.push({
    kind: StructureKind.Interface,
    isExported: true,
    name: names.clientInterface(s),
    docs: [`Calls the ${s.service} service's tasks. Each promise settles once the broker has confirmed the task.`],
    methods: s.tasks.flatMap((t) => [
      ...t.versions.map((v) => ({
        name: names.method(t, v),
        docs: [{ description: [`Sends ${label(s, t, v)}.`, description(t, v)].filter(Boolean).join('\n\n'), tags: deprecatedTag(v) }],
        parameters: [{ name: 'args', isRestParameter: true, type: `${names.callsType(t)}[${v.version}]` }],
        returnType: `Promise<SentTask<${names.resultType(t, v)}>>`,
      })),
      {
        name: names.delegate(t),
        docs: [`Sends the chosen version of ${t.key}; each version demands its own arguments.`],
        typeParameters: [{ name: 'V', constraint: `keyof ${names.callsType(t)}` }],
        parameters: [
          { name: 'version', type: 'V' },
          { name: 'args', isRestParameter: true, type: `${names.callsType(t)}[V]` },
        ],
        returnType: `Promise<SentTask<${names.resultsType(t)}[V]>>`,
      },
    ]),
  });
  statements.push({
    kind: StructureKind.Function,
    isExported: true,
    name: names.clientFactory(s),
    docs: [`Binds the ${s.service} tasks to a connected client (see \`connectClient\` in @taskbus/runtime).`],
    parameters: [{ name: 'client', type: 'TaskClient' }],
    returnType: names.clientInterface(s),
    statements: [
      ...s.tasks.map((t) =>
        constStatement({
          name: t.key,
          type: `{ [V in keyof ${names.callsType(t)}]: (...args: ${names.callsType(t)}[V]) => Promise<SentTask<${names.resultsType(t)}[V]>> }`,
          initializer: Writers.object(
            Object.fromEntries(
              t.versions.map((v) => {
                const params = [...v.args, ...(v.hasKwargs ? ['kwargs'] : [])];
                const call = `client.send(${names.spec(t, v)}, [${v.args.join(', ')}], ${v.hasKwargs ? 'kwargs' : '{}'}, options)`;
                return [String(v.version), `(${[...params, 'options'].join(', ')}) => ${call}`];
              }),
            ),
          ),
        }),
      ),
      (w) => {
        w.write('return ');
        Writers.object(
            Object.fromEntries(
              s.tasks.flatMap((t) => [
                ...t.versions.map((v) => [names.method(t, v), `${t.key}[${v.version}]`]),
                [
                  names.delegate(t),
                  (dw: CodeBlockWriter) =>
                    dw.write(`<V extends keyof ${names.callsType(t)}>(version: V, ...args: ${names.callsType(t)}[V]) => `).inlineBlock(() => {
                      dw.writeLine(`const call = ${t.key}[version] as ((...a: ${names.callsType(t)}[V]) => Promise<SentTask<${names.resultsType(t)}[V]>>) | undefined;`);
                      dw.writeLine(`if (!call) return Promise.reject(new UnknownVersionError(${quote(t.key)}, version, [${t.versions.map((v) => v.version).join(', ')}]));`);
                      dw.write('return call(...args);');
                    }),
                ],
              ]),
            ),
        )(w);
        w.write(';');
      },
    ],
  });
  return print(statements);
}

/** The handler interface a worker implements, and the function binding it to a runtime worker. */
export function workerFile(s: ServiceModel): string {
  const handlerTuple = (t: TaskModel, v: VersionModel) => parameterTuple(t, v, 'context: TaskContext');
  return print([
    header(s),
    importFrom('@taskbus/runtime', [], ['TaskContext', 'Worker']),
    importFromTasks(s),
    {
      kind: StructureKind.Interface,
      isExported: true,
      name: names.handlersInterface(s),
      docs: [
        `What the ${s.service} worker implements: one method per task version. A method returns the result ` +
          '(or a promise of it); throwing fails the task. The delivery is acknowledged only after it returns. ' +
          "`context.signal` aborts at the caller's soft time limit (Celery `soft_time_limit`): stop, or catch it and return.",
      ],
      methods: eachVersion(s, (t, v) => ({
        name: names.method(t, v),
        docs: [{ description: [`Runs ${label(s, t, v)}.`, description(t, v)].filter(Boolean).join('\n\n'), tags: deprecatedTag(v) }],
        parameters: [{ name: 'args', isRestParameter: true, type: handlerTuple(t, v) }],
        returnType: `${names.resultType(t, v)} | Promise<${names.resultType(t, v)}>`,
      })),
    },
    {
      kind: StructureKind.Function,
      isExported: true,
      name: names.bindHandlers(s),
      docs: [`Registers every ${s.service} task version on the worker, dispatching to the given implementation.`],
      parameters: [
        { name: 'worker', type: 'Worker' },
        { name: 'handlers', type: names.handlersInterface(s) },
      ],
      returnType: 'void',
      statements: eachVersion(
        s,
        (t, v) =>
          `worker.register(${names.spec(t, v)}, (args, ${v.hasKwargs ? 'kwargs' : '_kwargs'}, context) => ` +
          `handlers.${names.method(t, v)}(...args, ${v.hasKwargs ? 'kwargs, ' : ''}context));`,
      ),
    },
  ]);
}

/** The package entry: an explicit list, so helpers never become API by accident. */
export function indexFile(s: ServiceModel): string {
  const perVersion = eachVersion(s, (t, v) => [names.argsType(t, v), names.kwargsType(t, v), names.resultType(t, v)]).flat();
  const perTask = s.tasks.flatMap((t) => [names.callsType(t), names.resultsType(t)]);
  const exportFrom = (moduleSpecifier: string, values: string[], typesOnly: string[] = []): StatementStructures => ({
    kind: StructureKind.ExportDeclaration,
    moduleSpecifier,
    namedExports: [...values.map((name) => ({ name })), ...typesOnly.map((name) => ({ name, isTypeOnly: true }))],
  });
  return print([
    header(s),
    {
      kind: StructureKind.ExportDeclaration,
      moduleSpecifier: './contract.js',
      namedExports: [{ name: 'default', alias: names.contractExport(s) }],
    },
    exportFrom('./client.js', [names.clientFactory(s)], [names.clientInterface(s), ...perTask]),
    exportFrom('./tasks.js', eachVersion(s, (t, v) => names.spec(t, v)), perVersion),
    exportFrom('./worker.js', [names.bindHandlers(s)], [names.handlersInterface(s)]),
  ]);
}
