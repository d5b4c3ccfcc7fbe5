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

/** One service whose contract `version` is lower than its changes need. */
export interface VersionProblem {
  readonly service: string;
  /** The version the bindings were generated with before, and the contract's version now. */
  readonly from: string;
  readonly to: string;
  readonly bump: string;
  /** What to set the version to. */
  readonly advice: string;
}

/** `generate` refuses contracts whose version does not tell the truth about what changed (compat.ts). */
export class VersionTooLowError extends Error {
  readonly code = 'E_VERSION_TOO_LOW';

  constructor(readonly problems: readonly VersionProblem[]) {
    super(
      problems
        .map((p) => `${p.service}: the changes since ${p.from} need a ${p.bump} bump, but the contract says ${p.to}; ${p.advice} (\`taskbus check\` lists the changes)`)
        .join('\n'),
    );
    this.name = 'VersionTooLowError';
  }
}
