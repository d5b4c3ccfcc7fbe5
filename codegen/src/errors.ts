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

/** Bad CLI input (missing directory, unknown option value). */
export class UsageError extends Error {
  readonly code = 'E_USAGE';

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
