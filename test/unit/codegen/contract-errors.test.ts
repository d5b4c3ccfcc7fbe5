import { Type } from '@sinclair/typebox';
import { expect } from 'chai';
import { ContractDefinitionError, generate, type ContractSource } from '@taskbus/codegen';

const TEXT = "import { Type } from '@sinclair/typebox';\nexport default {};\n";
const result = Type.Null();

function source(exported: unknown, file = 'contracts/svc.ts', text = TEXT): ContractSource {
  return { file, text, exported };
}

function contract(versions: Record<string, unknown>, task = 'doIt', service = 'svc'): unknown {
  return { service, version: '1.0.0', queue: 'svc', tasks: { [task]: { versions } } };
}

function failure(sources: ContractSource[]): string {
  try {
    generate(sources);
  } catch (e) {
    expect(e).to.be.instanceOf(ContractDefinitionError);
    return (e as Error).message;
  }
  throw new Error('generate accepted a malformed contract');
}

describe('codegen contract errors name the service, task and version at fault', () => {
  const cases: [string, ContractSource[], RegExp][] = [
    ['not an object', [source(42)], /contracts\/svc\.ts: the default export must be a contract object/],
    ['bad service name', [source({ ...(contract({}) as object), service: 'My Svc' })], /"service" must be/],
    ['bad version', [source({ ...(contract({ 1: { name: 'a', args: {}, result } }) as object), version: 'one' })], /service "svc": "version" must be a semver/],
    ['no versions', [source(contract({}))], /task "doIt": versions must be keyed 1, 2, 3/],
    ['missing version', [source(contract({ 1: { name: 'a', args: {}, result }, 3: { name: 'b', args: {}, result } }))], /task "doIt", version 2: missing version 2/],
    ['arg not a schema', [source(contract({ 1: { name: 'a', args: { key: 'string' }, result } }))], /task "doIt", version 1, arg "key": is not a TypeBox schema/],
    ['reserved arg name', [source(contract({ 1: { name: 'a', args: { options: Type.String() }, result } }))], /version 1, arg "options": "options" is reserved/],
    ['python keyword arg name', [source(contract({ 1: { name: 'a', args: { from: Type.String() }, result } }))], /arg "from": "from" is a Python keyword/],
    ['bad retry policy', [source(contract({ 1: { name: 'a', args: {}, result, retry: { maxAttempts: 0 } } }))], /version 1, retry: must be \{ maxAttempts: integer >= 1/],
    ['missing result', [source(contract({ 1: { name: 'a', args: {} } }))], /version 1, result: is missing or not a TypeBox schema/],
    ['kwargs not an object schema', [source(contract({ 1: { name: 'a', args: {}, kwargs: Type.String(), result } }))], /version 1, kwargs: must be a TypeBox Type\.Object/],
    ['bad task key', [source(contract({ 1: { name: 'a', args: {}, result } }, 'do_it'))], /task "do_it": task keys must be camelCase/],
    [
      'duplicate task name within a contract',
      [source(contract({ 1: { name: 'svc.a', args: {}, result }, 2: { name: 'svc.a', args: {}, result } }))],
      /service "svc", task "doIt", version 2: duplicate task name "svc.a" \(also used by .*version 1\)/,
    ],
    [
      'duplicate task name across contracts',
      [source(contract({ 1: { name: 'x.a', args: {}, result } })), source(contract({ 1: { name: 'x.a', args: {}, result } }, 'other', 'svc2'), 'contracts/svc2.ts')],
      /contracts\/svc2\.ts, service "svc2", task "other", version 1: duplicate task name "x\.a"/,
    ],
    [
      'the same service twice',
      [source(contract({ 1: { name: 'a', args: {}, result } })), source(contract({ 1: { name: 'b', args: {}, result } }), 'contracts/again.ts')],
      /service "svc" is also declared in/,
    ],
    [
      'a contract importing something besides TypeBox',
      [source(contract({ 1: { name: 'a', args: {}, result } }), 'contracts/svc.ts', "import x from './shared.js';\nexport default {};\n")],
      /imports "\.\/shared\.js"; a contract may import only @sinclair\/typebox/,
    ],
  ];
  for (const [name, sources, message] of cases) {
    it(name, () => expect(failure(sources)).to.match(message));
  }

  it('accepts a well-formed contract', () => {
    expect(generate([source(contract({ 1: { name: 'a', args: { k: Type.String() }, result } }))]).size).to.equal(10);
  });

  it('rejects unknown generate options instead of ignoring them', () => {
    expect(() => generate([], { runtimeRnage: '^1' } as never)).to.throw(TypeError, /unknown generate option "runtimeRnage"/);
  });
});
