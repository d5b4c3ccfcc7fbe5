import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { expect } from 'chai';
import { IndentationText, NewLineKind, Project, QuoteKind } from 'ts-morph';
import { loadContracts } from '@taskbus/cli/files';
import { generate, readContract, scaffoldWorker, starterContract, type ContractSource } from '@taskbus/codegen';

// The emitters print TypeScript as TypeScript's formatter lays it out, and run the formatter only where contract
// text could make it change something: every TypeScript file they write must be the formatter's fixed point.
const project = new Project({
  useInMemoryFileSystem: true,
  manipulationSettings: { indentationText: IndentationText.TwoSpaces, quoteKind: QuoteKind.Single, newLineKind: NewLineKind.LineFeed, useTrailingCommas: true },
});

function formatted(text: string): string {
  const file = project.createSourceFile('/check.ts', text, { overwrite: true });
  file.formatText({ indentSize: 2, tabSize: 2, convertTabsToSpaces: true, ensureNewLineAtEndOfFile: true });
  return file.getFullText();
}

/** Every TypeScript file taskbus writes for these contracts, but the contract copies (the user's text as it is). */
function emitted(sources: readonly ContractSource[]): [string, string][] {
  const bindings = [...generate(sources)].filter(([path]) => path.endsWith('.ts') && !path.endsWith('/contract.ts'));
  const scaffolds = sources.flatMap((s) => [...scaffoldWorker(readContract(s))].map(([path, text]): [string, string] => [`${s.file}: ${path}`, text]));
  return [...bindings, ...scaffolds];
}

/** Descriptions and deprecation notes that doc comments carry, some with what only the formatter settles. */
const TEXTS = [
  'Plain.',
  'Two\nlines, "quoted" and \'quoted\', `ticks`, ${not.interpolated}, a backslash \\ and */ and /* and //',
  '  indented\n\n    more\n\nlast',
  '@param x not a tag\n* a star first\n - a list',
  'unicode é ü 漢字 🚀',
  'a trailing space \nnext',
  'a tab\tand\n\tleading',
  'a carriage\rreturn and a\r\n CRLF',
  'separators \u2028 line\u2028\tand \u2029 paragraph, nbsp\u00a0here',
];

function described(i: number, text: string): ContractSource {
  const versions = {
    1: { name: `svc${i}.a`, description: text, deprecated: text, args: { key: Type.String() }, result: Type.Null() },
    2: { name: `svc${i}.a_v2`, args: { key: Type.String(), n: Type.Number() }, kwargs: Type.Object({ k: Type.Optional(Type.String()) }), result: Type.Null() },
  };
  const exported = { service: `svc${i}`, version: '1.0.0', queue: `svc${i}`, tasks: { doIt: { description: text, versions } } };
  return { file: `contracts/svc${i}.ts`, text: "import { Type } from '@sinclair/typebox';\nexport default {};\n", exported };
}

describe('codegen emits TypeScript as the formatter lays it out', () => {
  const golden = new URL('../../golden/', import.meta.url).pathname;
  for (const dir of ['contracts', ...readdirSync(golden).map((c) => join(golden, c, 'contracts'))]) {
    it(`the bindings and scaffolds of ${dir.replace(golden, 'golden/')}`, async () => {
      for (const [path, text] of emitted(await loadContracts(dir))) expect(text, path).to.equal(formatted(text));
    });
  }

  it('with descriptions and notes of every kind in doc comments', () => {
    for (const [path, text] of emitted(TEXTS.map((t, i) => described(i, t)))) expect(text, path).to.equal(formatted(text));
  });

  it('starter contracts', () => {
    for (const service of ['widget', 'image-resizer']) expect(starterContract(service)).to.equal(formatted(starterContract(service)));
  });
});
