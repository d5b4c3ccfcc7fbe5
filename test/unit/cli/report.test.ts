import { ContractSourceError, VersionTooLowError } from '@taskbus/codegen';
import { ContractValidationError, RemoteTaskError } from '@taskbus/runtime';
import { expect } from 'chai';
import { FilesExistError } from '@taskbus/cli/errors';
import { report } from '@taskbus/cli/report';

function reported(e: unknown): { code: number; lines: string[] } {
  const lines: string[] = [];
  const code = report(e, (line) => lines.push(line));
  return { code, lines };
}

// Commander's own errors are checked end to end in test/integration/cli.test.ts (its copy of commander is the CLI's).
describe('taskbus exit codes: one line per error, never a stack', () => {
  // [case, error, exit code, stderr lines]
  const cases: [string, unknown, number, string[]][] = [
    ['arguments the contract refuses', new ContractValidationError('svc.do', [{ path: 'n', message: 'Expected integer' }]), 2, ['taskbus: invalid arguments for task svc.do; nothing was sent:\n  - n: Expected integer']],
    ['a contract that does not compile', new ContractSourceError([{ file: 'contracts/a.ts', line: 1, column: 2, message: 'bad' }]), 2, ['contracts/a.ts:1:2: bad', 'taskbus: 1 problem(s) in the contracts; nothing was generated']],
    ['a contract version lower than its changes need', new VersionTooLowError([{ service: 'svc', from: '1.0.0', to: '1.0.1', bump: 'minor', advice: 'set it to 1.1.0 or later' }]), 2, ['taskbus: svc: the changes since 1.0.0 need a minor bump, but the contract says 1.0.1; set it to 1.1.0 or later (`taskbus check` lists the changes)']],
    ['a failed task', new RemoteTaskError('id-1', 'svc.do', 'ValueError', 'no', null, null), 1, ['taskbus: task svc.do (id-1) failed: ValueError: no']],
    ['files already there', new FilesExistError(['a.ts']), 1, ['taskbus: will not overwrite a.ts: already there; nothing was written (move them away first)']],
    ['a bug (plain Error)', new TypeError("Cannot read properties of undefined (reading 'x')"), 70, ["taskbus: internal error: Cannot read properties of undefined (reading 'x')"]],
    ['a thrown non-error', 'boom', 70, ['taskbus: internal error: boom']],
  ];
  for (const [name, error, code, lines] of cases) {
    it(`${name}: exit ${code}`, () => expect(reported(error)).to.deep.equal({ code, lines }));
  }
});
