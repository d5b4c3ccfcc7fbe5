import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project, ts, type Diagnostic } from 'ts-morph';
import { ruleProblems, TYPEBOX } from './contract-rules.js';
import type { ContractDiagnostic } from './errors.js';

/** This package's own TypeBox declarations: a contract is checked against them wherever it lives. */
function typeboxTypes(): string {
  const types = fileURLToPath(import.meta.resolve(TYPEBOX)).replace(/\.mjs$/, '.d.mts');
  if (!existsSync(types)) throw new Error(`cannot find the TypeBox declarations at ${types}; reinstall @taskbus/codegen`);
  return types;
}

/**
 * Parses and type-checks every contract in one program before any is run: syntax errors, breaches of the
 * TypeBox-only rule, then type errors, each as file:line:column. The options follow the bindings package's
 * tsconfig (strict, ES2022 without DOM or Node types, verbatim module syntax), so a contract that passes
 * here compiles once copied there.
 */
export function checkContracts(sources: readonly { file: string; text: string }[]): ContractDiagnostic[] {
  const project = new Project({
    skipAddingFilesFromTsConfig: true,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts'],
      types: [],
      strict: true,
      verbatimModuleSyntax: true,
      skipLibCheck: true,
      noEmit: true,
      paths: { [TYPEBOX]: [typeboxTypes()] },
    },
  });
  const files = sources.map((s) => ({ ...s, source: project.createSourceFile(resolve(s.file), s.text, { overwrite: true }) }));
  const program = project.getProgram();

  const syntax = files.flatMap((f) => program.getSyntacticDiagnostics(f.source).map((d) => locate(f.file, d)));
  if (syntax.length > 0) return syntax;
  const rules = files.flatMap((f) => ruleProblems(f.file, f.source));
  if (rules.length > 0) return rules;
  return files.flatMap((f) => program.getSemanticDiagnostics(f.source).map((d) => locate(f.file, d)));
}

function locate(file: string, d: Diagnostic): ContractDiagnostic {
  const at = d.getSourceFile()?.getLineAndColumnAtPos(d.getStart() ?? 0) ?? { line: 1, column: 1 };
  // One line per diagnostic: TypeScript's chained explanations are joined, not indented below.
  const message = ts.flattenDiagnosticMessageText(d.compilerObject.messageText, ' ').replace(/\s+/g, ' ').trim();
  return { file, line: at.line, column: at.column, message };
}
