/** Bad command-line input (a missing directory, malformed JSON, an unknown service): exit 2. */
export class UsageError extends Error {
  readonly code = 'E_USAGE';

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A command that only creates files found some already there; it wrote nothing: exit 1. */
export class FilesExistError extends Error {
  readonly code = 'E_FILES_EXIST';

  constructor(readonly paths: readonly string[]) {
    super(`will not overwrite ${paths.join(', ')}: already there; nothing was written (move them away first)`);
    this.name = 'FilesExistError';
  }
}
