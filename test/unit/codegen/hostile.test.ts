import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { expect } from 'chai';
import ts from 'typescript';
import { loadContracts } from '@taskbus/cli/files';
import { generate, readContract, scaffoldWorker, type ContractSource } from '@taskbus/codegen';
import { runProcess } from '../../support/process.js';
import { PYTHON } from '../../support/python.js';

// Hostile descriptions and argument names (test/golden/hostile-text) must give bindings that compile in
// TypeScript strict and byte-compile and import in Python, with the description text intact.
const CONTRACTS = new URL('../../golden/hostile-text/contracts/', import.meta.url).pathname;

interface Described {
  readonly description: string;
  readonly tasks: { quote: { description: string; versions: Record<1 | 2, { description?: string }> } };
}

/** What Python saw after importing the module: docstrings and the delegate's signature. */
interface PythonView {
  readonly module: string;
  readonly tasks: Record<string, string>;
  readonly delegate: { readonly signature: string; readonly doc: string };
}

const INSPECT = `
import importlib, inspect, json, py_compile, sys
py_compile.compile(sys.argv[1], doraise=True)
from celery import Celery
Celery('inspect').set_default()
m = importlib.import_module('hostile_bindings')
print(json.dumps({
    'module': m.__doc__,
    'tasks': {name: getattr(m, name).__doc__ for name in ('quote', 'quote_v2')},
    'delegate': {'signature': str(inspect.signature(m.delegate_quote)), 'doc': m.delegate_quote.__doc__},
}))
`;

describe('codegen: hostile descriptions and names give working bindings in both languages', function () {
  this.timeout(60_000);
  let dir: string;
  let contract: Described;
  let sources: ContractSource[];

  before(async () => {
    sources = await loadContracts(CONTRACTS);
    contract = sources[0]!.exported as Described;
    dir = mkdtempSync(join(tmpdir(), 'taskbus-hostile-'));
    for (const [path, text] of generate(sources)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    // The package resolves @taskbus/runtime and TypeBox as it would once installed next to them.
    symlinkSync(resolve('node_modules'), join(dir, 'node_modules'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the TypeScript package compiles with its own strict tsconfig, and JSDoc keeps the text (only */ escaped)', () => {
    const pkg = join(dir, 'hostile-bindings');
    const config = ts.getParsedCommandLineOfConfigFile(join(pkg, 'tsconfig.json'), { noEmit: true }, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
    expect(config?.options.strict).to.equal(true);
    const program = ts.createProgram(config!.fileNames, config!.options);
    const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(problems).to.deep.equal([]);

    const checker = program.getTypeChecker();
    const client = program.getSourceFile(join(pkg, 'src/client.ts'))!;
    const iface = client.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'HostileClient')!;
    const doc = (method: string) => {
      const member = iface.members.find((m) => m.name && ts.isIdentifier(m.name) && m.name.text === method)!;
      return ts.displayPartsToString(checker.getSymbolAtLocation(member.name!)!.getDocumentationComment(checker));
    };
    const jsdoc = (text: string) => text.replace(/\*\//g, '*\\/');
    expect(doc('quote')).to.equal(`Sends \`hostile.quote\` (hostile quote v1, queue \`hostile\`).\n\n${jsdoc(contract.tasks.quote.description)}`);
    expect(doc('quoteV2')).to.equal(`Sends \`hostile.quote_v2\` (hostile quote v2, queue \`hostile\`).\n\n${jsdoc(contract.tasks.quote.versions[2].description!)}`);
  });

  it('a scaffolded worker parses, and its JSDoc keeps the descriptions (only */ escaped)', () => {
    const files = scaffoldWorker(readContract(sources[0]!));
    const handlers = [...files].find(([path]) => path.endsWith('handlers.ts'));
    expect(handlers, [...files.keys()].join(', ')).not.to.equal(undefined);
    for (const [path, text] of files) {
      if (!path.endsWith('.ts')) continue;
      const out = ts.transpileModule(text, { fileName: path, reportDiagnostics: true, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
      expect((out.diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')), path).to.deep.equal([]);
    }
    const jsdoc = (text: string) => text.replace(/\*\//g, '*\\/');
    expect(handlers![1]).to.include(jsdoc(contract.tasks.quote.description).split('\n')[0]);
  });

  it('the Python module byte-compiles and imports with Celery, and every docstring holds the description exactly', async () => {
    const python = join(dir, 'hostile-bindings/python');
    const run = await runProcess(PYTHON, ['-c', INSPECT, join(python, 'hostile_bindings.py')], { env: { PYTHONPATH: python } });
    expect(run.code, run.stderr).to.equal(0);
    const seen = JSON.parse(run.stdout) as PythonView;
    expect(seen.module).to.include(`\n\n${contract.description}\n\n`);
    const runsIn = ' Runs in the hostile service (queue "hostile"); this is its signature only.';
    expect(seen.tasks).to.deep.equal({
      quote: `${contract.tasks.quote.description}${runsIn}`,
      quote_v2: `${contract.tasks.quote.versions[2].description}${runsIn}`,
    });
    // The seed's shape: v1's args (those v2 drops default to <not given>), version="1", then what v2 adds.
    expect(seen.delegate.signature).to.equal('(type, of=<not given>, get=<not given>, constructor=<not given>, version=\'1\', string=<not given>, declare=<not given>, readonly=<not given>, keyof=<not given>, *, kwargs=None, **options)');
    expect(seen.delegate.doc).to.include('"1" with type, of, get, constructor; "2" with type, string, declare, readonly, keyof and kwargs=');
  });
});
