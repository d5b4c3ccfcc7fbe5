import { ts } from 'ts-morph';
import type { ContractDiagnostic } from './errors.js';

/** The one module a contract may import: it is copied into the bindings package, which depends on nothing else. */
export const TYPEBOX = '@sinclair/typebox';

const RULE = `a contract may import only ${TYPEBOX} (with import or export ... from), since it is copied into the bindings package`;

/** Parses a contract's text on its own (no type information, the latest syntax), for the syntax-tree rules below. */
export function parseContract(file: string, text: string): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest);
}

/** 1-based line and column of a position, counted as ts-morph counts them: lines end at \n, a column restarts after \n or \r. */
export function lineAndColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 10) line++;
  let start = pos;
  while (start > 0 && text[start - 1] !== '\n' && text[start - 1] !== '\r') start--;
  return { line, column: pos - start + 1 };
}

/**
 * The contract's breaches of the TypeBox-only rule, found on the syntax tree for every way code can reach
 * another module, and a missing default export. `file` is the path to report.
 */
export function ruleProblems(file: string, source: ts.SourceFile): ContractDiagnostic[] {
  const problems: ContractDiagnostic[] = [];
  const report = (pos: number, message: string) => problems.push({ file, ...lineAndColumn(source.text, pos), message });
  const refuse = (node: ts.Node, what: string) => report(node.getStart(source), `${what}; ${RULE}`);
  // Source text, but an identifier by its name (escapes read), as ts-morph's getText() gives them.
  const text = (node: ts.Node) => (ts.isIdentifier(node) || ts.isPrivateIdentifier(node) ? node.text : node.getText(source));
  // A module named by a string literal is reported by name; anything else by its source text.
  const named = (node: ts.Node | undefined) => (node && ts.isStringLiteral(node) ? `"${node.text}"` : `${node ? text(node) : 'a module'} (computed)`);
  const from = (specifier: ts.Expression) => (ts.isStringLiteral(specifier) ? specifier.text : text(specifier));

  for (const ref of [...source.referencedFiles, ...source.typeReferenceDirectives]) {
    report(ref.pos, `references "${ref.fileName}" with a /// directive; ${RULE}`);
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      if (from(node.moduleSpecifier) !== TYPEBOX) refuse(node, `imports "${from(node.moduleSpecifier)}"`);
    } else if (ts.isExportDeclaration(node)) {
      if (node.moduleSpecifier && from(node.moduleSpecifier) !== TYPEBOX) refuse(node, `re-exports "${from(node.moduleSpecifier)}"`);
    } else if (ts.isImportEqualsDeclaration(node)) {
      const ref = node.moduleReference;
      if (ts.isExternalModuleReference(ref)) refuse(node, `imports ${named(ref.expression)} with import = require()`);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      // Dynamic import() is refused whatever the module: the evaluated contract and its copy must agree statically.
      if (callee.kind === ts.SyntaxKind.ImportKeyword) refuse(node, `imports ${named(node.arguments[0])} with import()`);
      else if (ts.isIdentifier(callee) && callee.text === 'require') refuse(node, `imports ${named(node.arguments[0])} with require()`);
    } else if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
      refuse(node, 'uses import.meta');
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      const literal = ts.isLiteralTypeNode(arg) ? arg.literal : undefined;
      if (!(literal && ts.isStringLiteral(literal) && literal.text === TYPEBOX)) refuse(node, `imports ${named(literal)} in a type`);
    }
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(source, visit);
  if (!hasDefaultExport(source)) report(0, 'the contract must be the default export');
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * Whether the module exports `default`, read off its top-level statements as TypeScript's binder names exports:
 * `export default`, an export specifier or `export * as` named default (type-only ones too); `export =` is not.
 */
function hasDefaultExport(source: ts.SourceFile): boolean {
  return source.statements.some((s) => {
    if (ts.isExportAssignment(s)) return !s.isExportEquals;
    if (ts.isExportDeclaration(s)) {
      const clause = s.exportClause;
      if (clause === undefined) return false;
      return ts.isNamespaceExport(clause) ? clause.name.text === 'default' : clause.elements.some((e) => e.name.text === 'default');
    }
    const modifiers = ts.canHaveModifiers(s) ? (ts.getModifiers(s) ?? []) : [];
    return modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) && modifiers.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
  });
}


/**
 * Whether the contract's types depend on its own text alone: a module that neither augments the global scope or
 * another module nor pulls in a lib. Such a contract type-checks the same in any program.
 */
export function isIsolated(source: ts.SourceFile): boolean {
  const augments = (s: ts.Statement) => ts.isModuleDeclaration(s) && (ts.isStringLiteral(s.name) || (s.flags & ts.NodeFlags.GlobalAugmentation) !== 0);
  return ts.isExternalModule(source) && source.libReferenceDirectives.length === 0 && !source.statements.some(augments);
}
