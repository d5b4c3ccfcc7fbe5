import { expect } from 'chai';
import { ContractSourceError, evaluateContracts, evaluateCopies, generate, type ContractSource, type ContractText } from '@taskbus/codegen';
import { rejection } from '../../support/rejection.js';

// The contract copies in generated bindings (src/contract.ts) are loaded to compare versions: a copy of a contract
// that was just checked shares its export, and everything else is checked as before.
const contract = (service: string, extra = '') =>
  `import { Type } from '@sinclair/typebox';\n${extra}\nexport default { service: '${service}', version: '1.0.0', queue: '${service}', tasks: { ping: { versions: { 1: { name: '${service}.ping', args: {}, result: Type.Null() } } } } };\n`;

/** Each contract's copy as generate() writes it, at the path the CLI reads it from. */
function copiesOf(sources: readonly ContractSource[]): ContractText[] {
  return [...generate(sources)].filter(([path]) => path.endsWith('/src/contract.ts')).map(([file, text]) => ({ file: `generated/${file}`, text }));
}

describe('codegen evaluateCopies: copies of checked contracts are not checked or run again', () => {
  it('a copy of a contract shares its export, under its own file', async () => {
    const current = await evaluateContracts([{ file: 'contracts/a.ts', text: contract('a') }, { file: 'contracts/b.ts', text: contract('b') }]);
    const copies = copiesOf(current);
    const loaded = await evaluateCopies(copies, current);
    expect(loaded.map((s) => s.file)).to.deep.equal(['generated/a-bindings/src/contract.ts', 'generated/b-bindings/src/contract.ts']);
    expect(loaded.map((s) => s.text)).to.deep.equal(copies.map((c) => c.text));
    expect(loaded[0]!.exported).to.equal(current[0]!.exported);
    expect(loaded[1]!.exported).to.equal(current[1]!.exported);
  });

  it('a copy that differs from every contract is checked, with its own file and line', async () => {
    const current = await evaluateContracts([{ file: 'contracts/a.ts', text: contract('a') }]);
    const [copy] = copiesOf(current);
    const broken = { file: 'generated/old-bindings/src/contract.ts', text: contract('old', "const n: number = 'x';") };
    const e = await rejection(evaluateCopies([copy!, broken], current));
    expect(e).to.be.instanceOf(ContractSourceError);
    expect(e.message).to.equal("generated/old-bindings/src/contract.ts:2:7: Type 'string' is not assignable to type 'number'.");
  });

  it('a contract that declares globals makes every copy be checked with the others, as before', async () => {
    // b's old copy uses a type that only a's contract (and so a's copy) declares.
    const withGlobal = contract('a', 'declare global { type Shared = string }');
    const current = await evaluateContracts([{ file: 'contracts/a.ts', text: withGlobal }, { file: 'contracts/b.ts', text: contract('b', "const s: Shared = 'x';") }]);
    const [copyOfA] = copiesOf(current);
    const oldB = { file: 'generated/b-bindings/src/contract.ts', text: contract('b', "const s: Shared = 'old';") };
    const loaded = await evaluateCopies([copyOfA!, oldB], current);
    expect(loaded.map((s) => (s.exported as { service: string }).service)).to.deep.equal(['a', 'b']);
  });

  it('contracts not evaluated here (built by hand) share nothing: every copy is checked', async () => {
    const current = await evaluateContracts([{ file: 'contracts/a.ts', text: contract('a') }]);
    const byHand = current.map((s) => ({ ...s }));
    const loaded = await evaluateCopies(copiesOf(current), byHand);
    expect(loaded[0]!.exported).to.not.equal(current[0]!.exported);
    expect(loaded[0]!.exported).to.deep.equal(current[0]!.exported);
  });
});
