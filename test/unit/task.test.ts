import { Type } from '@sinclair/typebox';
import { ContractValidationError, defineTask } from '@taskbus/runtime';
import { expect } from 'chai';
import { bindArguments } from '../../runtime/src/task.js';

const spec = defineTask<[key: string, meta: { tags?: Record<string, string> }], { dryRun?: boolean }, null>({
  name: 'demo.put',
  queue: 'demo',
  args: { key: Type.String({ minLength: 1 }), meta: Type.Object({ tags: Type.Optional(Type.Record(Type.String(), Type.String())) }) },
  kwargs: Type.Object({ dryRun: Type.Optional(Type.Boolean()) }),
  result: Type.Null(),
});

function issues(args: unknown[], kwargs: object = {}): string[] {
  try {
    spec.assertArgs(args, kwargs);
    return [];
  } catch (e) {
    expect(e).to.be.instanceOf(ContractValidationError);
    const err = e as ContractValidationError;
    expect(err.code).to.equal('E_CONTRACT_VALIDATION');
    expect(err.task).to.equal('demo.put');
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

describe('defineTask validation', () => {
  it('accepts valid arguments', () => {
    expect(issues(['k', { tags: { a: 'b' } }], { dryRun: true })).to.deep.equal([]);
  });
  it('names the argument at fault, not its index', () => {
    const found = issues(['', { tags: { a: 1 } }]);
    expect(found.some((i) => i.startsWith('key:'))).to.equal(true);
    expect(found.some((i) => i.startsWith('meta.tags.a:'))).to.equal(true);
  });
  it('refuses the wrong number of positional arguments and says how many it wants', () => {
    expect(issues(['k'])[0]).to.match(/expected 2 positional arguments \(key, meta\), got 1/);
  });
  it('refuses unknown kwargs, as a Python function would', () => {
    expect(issues(['k', {}], { force: true }).join()).to.match(/^kwargs/);
  });
  it('checks results against the contract', () => {
    expect(spec.checkResult(null)).to.deep.equal([]);
    expect(spec.checkResult({ a: 1 })).to.have.length.greaterThan(0);
  });
});

describe('bindArguments (Python keyword binding)', () => {
  const cases: [string, unknown[], Record<string, unknown>, { args: unknown[]; kwargs: Record<string, unknown> }][] = [
    ['all positional', ['k', 'c'], {}, { args: ['k', 'c'], kwargs: {} }],
    ['all by name', [], { key: 'k', content: 'c' }, { args: ['k', 'c'], kwargs: {} }],
    ['mixed', ['k'], { content: 'c', extra: 1 }, { args: ['k', 'c'], kwargs: { extra: 1 } }],
    ['a gap stops binding (Python would raise; validation reports it)', [], { content: 'c' }, { args: [], kwargs: { content: 'c' } }],
    ['a name given twice stays a kwarg (validation refuses it)', ['k', 'c'], { key: 'x' }, { args: ['k', 'c'], kwargs: { key: 'x' } }],
  ];
  for (const [name, args, kwargs, want] of cases) {
    it(name, () => expect(bindArguments(['key', 'content'], args, kwargs)).to.deep.equal(want));
  }
});
