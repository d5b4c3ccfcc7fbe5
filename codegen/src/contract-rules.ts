import { Node, Project, ts, type SourceFile } from 'ts-morph';
import type { ContractDiagnostic } from './errors.js';

/** The one module a contract may import: it is copied into the bindings package, which depends on nothing else. */
export const TYPEBOX = '@sinclair/typebox';

const RULE = `a contract may import only ${TYPEBOX} (with import or export ... from), since it is copied into the bindings package`;

const parser = new Project({ useInMemoryFileSystem: true });

/** Parses a contract's text on its own (no type information), for the syntax-tree rules below. */
export function parseContract(text: string): SourceFile {
  return parser.createSourceFile('/contract.ts', text, { overwrite: true });
}

/**
 * The contract's breaches of the TypeBox-only rule, found on the syntax tree for every way code can reach
 * another module, and a missing default export. `file` is the path to report.
 */
export function ruleProblems(file: string, source: SourceFile): ContractDiagnostic[] {
  const problems: ContractDiagnostic[] = [];
  const report = (pos: number, message: string) => {
    const { line, column } = source.getLineAndColumnAtPos(pos);
    problems.push({ file, line, column, message });
  };
  const refuse = (node: Node, what: string) => report(node.getStart(), `${what}; ${RULE}`);
  // A module named by a string literal is reported by name; anything else by its source text.
  const named = (node: Node | undefined) => (node && Node.isStringLiteral(node) ? `"${node.getLiteralValue()}"` : `${node?.getText() ?? 'a module'} (computed)`);

  for (const ref of [...source.getPathReferenceDirectives(), ...source.getTypeReferenceDirectives()]) {
    report(ref.getPos(), `references "${ref.getFileName()}" with a /// directive; ${RULE}`);
  }
  source.forEachDescendant((node) => {
    if (Node.isImportDeclaration(node)) {
      const from = node.getModuleSpecifierValue();
      if (from !== TYPEBOX) refuse(node, `imports "${from}"`);
    } else if (Node.isExportDeclaration(node)) {
      const from = node.getModuleSpecifierValue();
      if (from !== undefined && from !== TYPEBOX) refuse(node, `re-exports "${from}"`);
    } else if (Node.isImportEqualsDeclaration(node)) {
      const ref = node.getModuleReference();
      if (Node.isExternalModuleReference(ref)) refuse(node, `imports ${named(ref.getExpression())} with import = require()`);
    } else if (Node.isCallExpression(node)) {
      const callee = node.getExpression();
      // Dynamic import() is refused whatever the module: the evaluated contract and its copy must agree statically.
      if (callee.getKind() === ts.SyntaxKind.ImportKeyword) refuse(node, `imports ${named(node.getArguments()[0])} with import()`);
      else if (Node.isIdentifier(callee) && callee.getText() === 'require') refuse(node, `imports ${named(node.getArguments()[0])} with require()`);
    } else if (Node.isMetaProperty(node) && node.getKeywordToken() === ts.SyntaxKind.ImportKeyword) {
      refuse(node, 'uses import.meta');
    } else if (Node.isImportTypeNode(node)) {
      const arg = node.getArgument();
      const literal = Node.isLiteralTypeNode(arg) ? arg.getLiteral() : undefined;
      if (!(literal && Node.isStringLiteral(literal) && literal.getLiteralValue() === TYPEBOX)) refuse(node, `imports ${named(literal)} in a type`);
    }
  });
  if (!source.getDefaultExportSymbol()) report(0, 'the contract must be the default export');
  return problems.sort((a, b) => a.line - b.line || a.column - b.column);
}
