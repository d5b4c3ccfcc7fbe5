import { ts } from 'ts-morph';
import { parseContract, ruleProblems, TYPEBOX } from './contract-rules.js';
import { contractFile, header } from './emit-ts.js';
import { ContractDefinitionError, ContractSourceError, type ContractDiagnostic } from './errors.js';
import type { ContractSource } from './model.js';
import { compileContracts, type CompiledContracts } from './typecheck.js';

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
async function run(file: string, js: string): Promise<unknown> {
  try {
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(js).toString('base64')}`)) as { default?: unknown };
    return mod.default;
  } catch (e) {
    // Module-linking errors name the importing module, here the data: URL: name the file instead.
    const message = (e instanceof Error ? e.message : String(e)).replace(/data:text\/javascript;base64,[A-Za-z0-9+/=]*/g, file);
    throw new ContractDefinitionError(file, `contract failed to evaluate: ${message}`);
  }
}

/** Sources that evaluateContracts returned: the text each was checked with, and whether it type-checks the same in any program. */
const checked = new WeakMap<ContractSource, { text: string; isolated: boolean }>();

/**
 * Parses and type-checks every contract (nothing runs when one is broken), then evaluates each: its file,
 * text and default export, ready for generate(). The caller reads the files; this touches no disk.
 */
export async function evaluateContracts(texts: readonly ContractText[]): Promise<ContractSource[]> {
  return evaluate(texts, compileContracts(texts, { before: [atTypebox] }));
}

async function evaluate(texts: readonly ContractText[], { problems, javascript, isolated }: CompiledContracts): Promise<ContractSource[]> {
  if (problems.length > 0) throw new ContractSourceError(problems);
  const sources = await Promise.all(texts.map(async ({ file, text }, i) => ({ file, text, exported: await run(file, javascript[i]!) })));
  sources.forEach((s, i) => checked.set(s, { text: s.text, isolated: isolated[i]! }));
  return sources;
}

/**
 * The copies of contracts in generated bindings (src/contract.ts), evaluated as evaluateContracts does, with the
 * same problems. A copy that is word for word what generate() writes for one of `current` is neither checked nor
 * run again: it shares its contract's export. That holds only where no contract can change how another type-checks
 * (each is isolated); otherwise all copies are checked together, as before.
 */
export async function evaluateCopies(copies: readonly ContractText[], current: readonly ContractSource[]): Promise<ContractSource[]> {
  const twins = new Map<string, ContractSource>();
  if (current.every((s) => checked.get(s)?.text === s.text && checked.get(s)?.isolated)) {
    for (const source of current) if (sameMeaning(source)) twins.set(contractFile({ source }), source);
  }
  const rest = copies.filter((c) => !twins.has(c.text));
  const compiled = rest.length < copies.length ? compileContracts(rest, { before: [atTypebox] }) : null;
  // Problems are reported from all copies in one program, as before: TypeScript's messages (the order of a union's
  // members) can depend on what it checked first.
  if (!compiled?.isolated.every(Boolean) || compiled.problems.length > 0) return evaluateContracts(copies);
  const evaluated = new Map((await evaluate(rest, compiled)).map((s, i) => [rest[i]!, s]));
  return copies.map((c) => {
    const twin = twins.get(c.text);
    if (!twin) return evaluated.get(c)!;
    const copy = { file: c.file, text: c.text, exported: twin.exported };
    checked.set(copy, { text: copy.text, isolated: true });
    return copy;
  });
}

/** A contract's copy means what the contract means: its header stays one comment line, and no #! line had to come first. */
function sameMeaning(source: ContractSource): boolean {
  return !source.text.startsWith('#!') && !/[\n\r\u2028\u2029]/.test(header({ source }));
}

/** A source's breaches of the TypeBox-only rule; none are looked for again in one that evaluateContracts checked. */
export function rulesBroken(source: ContractSource): ContractDiagnostic[] {
  return checked.get(source)?.text === source.text ? [] : ruleProblems(source.file, parseContract(source.file, source.text));
}
