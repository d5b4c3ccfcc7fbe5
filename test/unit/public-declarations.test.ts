import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import ts from 'typescript';

// The runtime's public declarations as a strict consumer's compiler sees them: every file they reach,
// checked (skipLibCheck off), with no @types picked up automatically. Reads runtime/dist: build first.
const index = fileURLToPath(new URL('../../runtime/dist/index.d.ts', import.meta.url));
// The test harness entry (@taskbus/runtime/testing) is public too.
const testing = fileURLToPath(new URL('../../runtime/dist/testing/index.d.ts', import.meta.url));

function consumerProgram(): ts.Program {
  return ts.createProgram([index, testing], {
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  });
}

/** What the runtime's own declaration files in the program import from outside it, and the types they reference. */
function outsideImports(program: ts.Program): string[] {
  const found = new Set<string>();
  for (const file of program.getSourceFiles()) {
    if (!file.fileName.includes('/runtime/dist/')) continue;
    const info = ts.preProcessFile(file.text, true, true);
    for (const i of info.importedFiles) if (!i.fileName.startsWith('.')) found.add(i.fileName);
    for (const r of info.typeReferenceDirectives) found.add(`types:${r.fileName}`);
  }
  return [...found].sort();
}

describe('runtime public declarations', () => {
  // prom-client (the metrics registry type) ships its own declarations and is a dependency: nothing to install.
  it('import only TypeBox and prom-client and reference only Node types: no amqplib types for a consumer to install', () => {
    expect(outsideImports(consumerProgram())).to.deep.equal(['@sinclair/typebox', 'prom-client', 'types:node']);
  });

  it('compile with strict and skipLibCheck off', () => {
    const program = consumerProgram();
    const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
    expect(problems).to.deep.equal([]);
  });
});
