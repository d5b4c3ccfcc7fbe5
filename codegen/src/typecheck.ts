import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ts } from 'ts-morph';
import { isIsolated, lineAndColumn, ruleProblems, TYPEBOX } from './contract-rules.js';
import type { ContractDiagnostic } from './errors.js';

/** This package's own TypeBox declarations: a contract is checked against them wherever it lives. */
function typeboxTypes(): string {
  const types = fileURLToPath(import.meta.resolve(TYPEBOX)).replace(/\.mjs$/, '.d.mts');
  if (!existsSync(types)) throw new Error(`cannot find the TypeBox declarations at ${types}; reinstall @taskbus/codegen`);
  return types;
}

/** ts-morph's TypeScript ships no lib folder: its lib files are the texts its @ts-morph/common holds, at a folder of its naming. */
const common = createRequire(import.meta.resolve('ts-morph'))('@ts-morph/common') as {
  getLibFiles(): readonly { fileName: string; text: string }[];
  libFolderInMemoryPath: string;
};
const LIB_FOLDER = common.libFolderInMemoryPath;

/**
 * Declaration files (the libs, TypeBox's) parsed once per process for every program: they are the same for all,
 * and a program never changes the files it is given. Keyed by path, kept only while the text is the same.
 */
const declarations = new Map<string, { text: string; source: ts.SourceFile }>();

function declarationFile(path: string, text: string): ts.SourceFile {
  const cached = declarations.get(path);
  if (cached?.text === text) return cached.source;
  const source = parse(path, text);
  declarations.set(path, { text, source });
  return source;
}

/**
 * Parsed as ts-morph's project parsed them: by script target alone, so no file has a module format of its own and
 * TypeScript reads TypeBox's declarations as it did there (e.g. a synthetic default export).
 */
function parse(path: string, text: string): ts.SourceFile {
  return ts.createSourceFile(path, text, ts.ScriptTarget.ES2022);
}

/** Reads the contracts from memory, the libs from ts-morph's texts and everything else (TypeBox) from disk. */
function compilerHost(options: ts.CompilerOptions, contracts: ReadonlyMap<string, string>): ts.CompilerHost {
  const host = ts.createCompilerHost(options);
  const libs = new Map(common.getLibFiles().map((f) => [`${LIB_FOLDER}/${f.fileName}`, f.text]));
  const { fileExists, readFile } = host;
  return {
    ...host,
    getDefaultLibLocation: () => LIB_FOLDER,
    getDefaultLibFileName: (o) => `${LIB_FOLDER}/${ts.getDefaultLibFileName(o)}`,
    fileExists: (path) => contracts.has(path) || libs.has(path) || fileExists(path),
    readFile: (path) => contracts.get(path) ?? libs.get(path) ?? readFile(path),
    getSourceFile: (path, _version, onError) => {
      const contract = contracts.get(path);
      if (contract !== undefined) return parse(path, contract);
      const text = libs.get(path) ?? readFile(path);
      if (text === undefined) {
        onError?.(`cannot read ${path}`);
        return undefined;
      }
      return declarationFile(path, text);
    },
  };
}

/** The contracts as one program compiled them: the problems found, else each contract's JavaScript. */
export interface CompiledContracts {
  readonly problems: readonly ContractDiagnostic[];
  /** In the order of the sources; empty when there are problems. */
  readonly javascript: readonly string[];
  /** In the order of the sources: whether each type-checks the same in any program (isIsolated). */
  readonly isolated: readonly boolean[];
}

/**
 * Parses and type-checks every contract in one program before any is run: syntax errors, breaches of the
 * TypeBox-only rule, then type errors, each as file:line:column. The options follow the bindings package's
 * tsconfig (strict, ES2022 without DOM or Node types, verbatim module syntax), so a contract that passes
 * here compiles once copied there. When all pass, the same program emits their JavaScript (with `transformers`).
 */
export function compileContracts(sources: readonly { file: string; text: string }[], transformers: ts.CustomTransformers): CompiledContracts {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts'],
    types: [],
    strict: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    paths: { [TYPEBOX]: [typeboxTypes()] },
  };
  const paths = sources.map((s) => resolve(s.file));
  // A path given twice is one file, with the text given last.
  const texts = new Map(sources.map((s, i) => [paths[i]!, s.text]));
  const program = ts.createProgram({ rootNames: [...texts.keys()], options, host: compilerHost(options, texts) });
  const files = sources.map((s, i) => ({ file: s.file, source: program.getSourceFile(paths[i]!)! }));
  const isolated = files.map((f) => isIsolated(f.source));
  const failed = (problems: ContractDiagnostic[]) => ({ problems, javascript: [], isolated });

  const syntax = files.flatMap((f) => program.getSyntacticDiagnostics(f.source).map((d) => locate(f.file, d)));
  if (syntax.length > 0) return failed(syntax);
  const rules = files.flatMap((f) => ruleProblems(f.file, f.source));
  if (rules.length > 0) return failed(rules);
  const types = files.flatMap((f) => program.getSemanticDiagnostics(f.source).map((d) => locate(f.file, d)));
  if (types.length > 0) return failed(types);
  // Nothing is written: each file's JavaScript is kept by the source it came from.
  const javascript = new Map<string, string>();
  program.emit(undefined, (_path, text, _bom, _onError, from) => javascript.set(from![0]!.fileName, text), undefined, false, transformers);
  return { problems: [], javascript: files.map((f) => javascript.get(f.source.fileName)!), isolated };
}

function locate(file: string, d: ts.Diagnostic): ContractDiagnostic {
  const at = d.file ? lineAndColumn(d.file.text, d.start ?? 0) : { line: 1, column: 1 };
  // One line per diagnostic: TypeScript's chained explanations are joined, not indented below.
  const message = ts.flattenDiagnosticMessageText(d.messageText, ' ').replace(/\s+/g, ' ').trim();
  return { file, line: at.line, column: at.column, message };
}
