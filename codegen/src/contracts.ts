import { ts } from 'ts-morph';
import { parseContract, ruleProblems, TYPEBOX } from './contract-rules.js';
import { contractFile, header } from './emit-ts.js';
import { ContractDefinitionError, ContractSourceError, type ContractDiagnostic } from './errors.js';
import type { ContractSource } from './model.js';
import { compileContracts, type CompiledContracts } from './typecheck.js';
import { cacheKey } from './fingerprint.js';

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
 * Contracts that passed every check in an earlier run, as tsc's incremental build info: their JavaScript by a
 * key of everything the check depends on (see checkKey). `passed` is filled with this run's passing contracts,
 * those found in `known` included: it is what to keep for the next run.
 */
export interface CheckCache {
  readonly known: ReadonlyMap<string, string>;
  readonly passed: Map<string, string>;
}

/**
 * Parses and type-checks every contract (nothing runs when one is broken), then evaluates each: its file,
 * text and default export, ready for generate(). The caller reads the files; this touches no disk. With a
 * cache, a contract found in it is not checked again: only where no contract can change how another
 * type-checks (each is isolated), and problems are reported from all contracts in one program, as without it.
 */
export async function evaluateContracts(texts: readonly ContractText[], cache?: CheckCache): Promise<ContractSource[]> {
  if (!cache) return evaluate(texts, compileContracts(texts, { before: [atTypebox] }));
  const keys = texts.map((t) => checkKey(t.text));
  const compiled = compileUnknown(texts, keys, cache.known);
  // Problems are reported from all contracts in one program, as without a cache: TypeScript's messages (the order
  // of a union's members) can depend on what it checked first.
  if (!compiled.isolated.every(Boolean) || (compiled.problems.length > 0 && compiled.partly)) return evaluateContracts(texts);
  const sources = await evaluate(texts, compiled);
  sources.forEach((source, i) => {
    cache.passed.set(keys[i]!, compiled.javascript[i]!);
    // Its copy in the bindings too: the next run reads it as the previous version, when this contract is edited.
    if (sameMeaning(source)) cache.passed.set(checkKey(contractFile({ source })), compiled.javascript[i]!);
  });
  return sources;
}

const NOTHING_KNOWN: ReadonlyMap<string, string> = new Map();

/**
 * compileContracts for those of `texts` whose key `known` does not hold, the JavaScript of the others taken from
 * it (they passed, isolated, before); `partly` when some were not compiled.
 */
function compileUnknown(texts: readonly ContractText[], keys: readonly string[], known: ReadonlyMap<string, string>): CompiledContracts & { partly: boolean } {
  const unknown = texts.filter((_, i) => !known.has(keys[i]!));
  const partly = unknown.length < texts.length;
  const compiled = unknown.length > 0 ? compileContracts(unknown, { before: [atTypebox] }) : { problems: [], javascript: [], isolated: [] };
  if (compiled.problems.length > 0) return { ...compiled, partly };
  const fresh = new Map(unknown.map((t, i) => [t, i]));
  const at = (t: ContractText) => fresh.get(t);
  return {
    problems: [],
    javascript: texts.map((t, i) => (at(t) === undefined ? known.get(keys[i]!)! : compiled.javascript[at(t)!]!)),
    isolated: texts.map((t) => (at(t) === undefined ? true : compiled.isolated[at(t)!]!)),
    partly,
  };
}

function checkKey(text: string): string {
  return cacheKey('checked contract', text);
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
 * (each is isolated); otherwise all copies are checked together, as before. A copy `cache` knows (the previous
 * version of an edited contract) is taken from it.
 */
export async function evaluateCopies(copies: readonly ContractText[], current: readonly ContractSource[], cache?: CheckCache): Promise<ContractSource[]> {
  const twins = new Map<string, ContractSource>();
  if (current.every((s) => checked.get(s)?.text === s.text && checked.get(s)?.isolated)) {
    for (const source of current) if (sameMeaning(source)) twins.set(contractFile({ source }), source);
  }
  const rest = copies.filter((c) => !twins.has(c.text));
  // Nothing to share: every copy is checked, as contracts are.
  if (rest.length === copies.length && !cache) return evaluateContracts(copies);
  const compiled = compileUnknown(rest, rest.map((c) => checkKey(c.text)), cache?.known ?? NOTHING_KNOWN);
  // Problems are reported from all copies in one program, as before.
  if (!compiled.isolated.every(Boolean) || compiled.problems.length > 0) return evaluateContracts(copies);
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
