import { ts } from 'ts-morph';
import { parseContract, ruleProblems, TYPEBOX } from './contract-rules.js';
import { ContractDefinitionError, ContractSourceError, type ContractDiagnostic } from './errors.js';
import type { ContractSource } from './model.js';
import { compileContracts } from './typecheck.js';

/** A contract as read by the caller: its path (relative, with `/`, for messages) and its text. */
export interface ContractText {
  readonly file: string;
  readonly text: string;
}

const TYPEBOX_URL = import.meta.resolve(TYPEBOX);

/** Points every import and export ... from at this package's TypeBox, the only module a checked contract names. */
const atTypebox: ts.TransformerFactory<ts.SourceFile> = (context) => (source) => {
  const url = context.factory.createStringLiteral(TYPEBOX_URL);
  const statements = source.statements.map((s) => {
    if (ts.isImportDeclaration(s)) return context.factory.updateImportDeclaration(s, s.modifiers, s.importClause, url, s.attributes);
    if (ts.isExportDeclaration(s) && s.moduleSpecifier) return context.factory.updateExportDeclaration(s, s.modifiers, s.isTypeOnly, s.exportClause, url, s.attributes);
    return s;
  });
  return context.factory.updateSourceFile(source, statements);
};

/**
 * Runs a contract's JavaScript, compiled by compileContracts with its module specifiers pointed at this package's
 * TypeBox (the only module it imports), as a data: URL: no loader hooks and no file system. Its imports are kept as
 * written (verbatim module syntax), as in the bindings package's build. A throw while it runs is reported by file,
 * without the data: URL or a stack.
 */
async function evaluate(file: string, js: string): Promise<unknown> {
  try {
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(js).toString('base64')}`)) as { default?: unknown };
    return mod.default;
  } catch (e) {
    // Module-linking errors name the importing module, here the data: URL: name the file instead.
    const message = (e instanceof Error ? e.message : String(e)).replace(/data:text\/javascript;base64,[A-Za-z0-9+/=]*/g, file);
    throw new ContractDefinitionError(file, `contract failed to evaluate: ${message}`);
  }
}

/** The text each source that evaluateContracts returned was checked with. */
const checked = new WeakMap<ContractSource, string>();

/**
 * Parses and type-checks every contract (nothing runs when one is broken), then evaluates each: its file,
 * text and default export, ready for generate(). The caller reads the files; this touches no disk.
 */
export async function evaluateContracts(texts: readonly ContractText[]): Promise<ContractSource[]> {
  const { problems, javascript } = compileContracts(texts, { before: [atTypebox] });
  if (problems.length > 0) throw new ContractSourceError(problems);
  const sources = await Promise.all(texts.map(async ({ file, text }, i) => ({ file, text, exported: await evaluate(file, javascript[i]!) })));
  for (const s of sources) checked.set(s, s.text);
  return sources;
}

/** A source's breaches of the TypeBox-only rule; none are looked for again in one that evaluateContracts checked. */
export function rulesBroken(source: ContractSource): ContractDiagnostic[] {
  return checked.get(source) === source.text ? [] : ruleProblems(source.file, parseContract(source.file, source.text));
}
