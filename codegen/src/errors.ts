/** A contract cannot be turned into bindings; the message names the file, service, task and version. */
export class ContractDefinitionError extends Error {
  readonly code = 'E_CONTRACT_DEFINITION';

  constructor(
    readonly where: string,
    readonly problem: string,
  ) {
    super(`${where}: ${problem}`);
    this.name = 'ContractDefinitionError';
  }
}

/** One problem found in a contract's source, located as an editor expects: 1-based line and column. */
export interface ContractDiagnostic {
  /** The contract's path relative to the working directory, with `/`. */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/** A contract does not parse, type-check or keep to the TypeBox-only rule; nothing of it was run. */
export class ContractSourceError extends Error {
  readonly code = 'E_CONTRACT_SOURCE';

  constructor(readonly diagnostics: readonly ContractDiagnostic[]) {
    super(diagnostics.map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`).join('\n'));
    this.name = 'ContractSourceError';
  }
}
