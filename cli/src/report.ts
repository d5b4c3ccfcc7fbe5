import { ContractDefinitionError, ContractSourceError, VersionTooLowError } from '@taskbus/codegen';
import { ContractValidationError, TaskbusError } from '@taskbus/runtime';
import { CommanderError } from 'commander';
import { FilesExistError, UsageError } from './errors.js';

/** The exit code for an error, after reporting it in one line (or compiler-style lines for contract sources). */
export function report(e: unknown, warn: (line: string) => void): number {
  // Commander has printed its own message; help and --version exit 0, every other parse error is usage.
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
  if (e instanceof ContractSourceError) {
    // Compiler-style lines (file:line:col: message), so editors and CI annotate them.
    warn(e.message);
    warn(`taskbus: ${e.diagnostics.length} problem(s) in the contracts; nothing was generated`);
    return 2;
  }
  if (e instanceof ContractDefinitionError || e instanceof UsageError || e instanceof ContractValidationError || e instanceof VersionTooLowError) {
    warn(`taskbus: ${e.message}`);
    return 2;
  }
  // A failed or timed-out task, the broker, an existing file: one line naming what went wrong.
  if (e instanceof TaskbusError || e instanceof FilesExistError) {
    warn(`taskbus: ${e.message}`);
    return 1;
  }
  // A bug of ours: one line, never a stack (it could carry data); 70 is EX_SOFTWARE.
  warn(`taskbus: internal error: ${e instanceof Error ? e.message : String(e)}`);
  return 70;
}
