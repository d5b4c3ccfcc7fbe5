import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { expect } from 'chai';
import { loadContracts } from '@taskbus/cli/files';
import { ContractDefinitionError, ContractSourceError, generate, type ContractSource } from '@taskbus/codegen';

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
    ['upper-case package name', [source({ ...(contract({ 1: { name: 'a', args: {}, result } }) as object), package: 'Svc-Bindings' })], /service "svc": "package" must be an npm package name/],
    ['package name with a path', [source({ ...(contract({ 1: { name: 'a', args: {}, result } }) as object), package: '@acme/svc/extra' })], /"package" must be an npm package name/],
    ['license not a string', [source({ ...(contract({ 1: { name: 'a', args: {}, result } }) as object), license: 7 })], /service "svc": "license" must be an SPDX/],
    ['no versions', [source(contract({}))], /task "doIt": versions must be keyed 1, 2, 3/],
    ['version keyed 0', [source(contract({ 0: { name: 'a', args: {}, result } }))], /task "doIt": versions must be keyed 1, 2, 3/],
    ['arg not a schema', [source(contract({ 1: { name: 'a', args: { key: 'string' }, result } }))], /task "doIt", version 1, arg "key": is not a TypeBox schema/],
    ['reserved arg name', [source(contract({ 1: { name: 'a', args: { options: Type.String() }, result } }))], /version 1, arg "options": "options" is reserved/],
    ['python keyword arg name', [source(contract({ 1: { name: 'a', args: { from: Type.String() }, result } }))], /arg "from": "from" is a Python keyword/],
    ['TypeScript reserved arg name', [source(contract({ 1: { name: 'a', args: { new: Type.String() }, result } }))], /task "doIt", version 1, arg "new": "new" is reserved in TypeScript/],
    ['strict-mode reserved arg name', [source(contract({ 1: { name: 'a', args: { k: Type.String(), arguments: Type.String() }, result } }))], /version 1, arg "arguments": "arguments" is reserved in TypeScript/],
    ['arg name starting with _', [source(contract({ 1: { name: 'a', args: { _delegate: Type.String() }, result } }))], /version 1, arg "_delegate": argument names starting with "_" are kept/],
    ['bad retry policy', [source(contract({ 1: { name: 'a', args: {}, result, retry: { maxAttempts: 0 } } }))], /version 1, retry: must be \{ maxAttempts: integer >= 1/],
    ['missing result', [source(contract({ 1: { name: 'a', args: {} } }))], /version 1, result: is missing or not a TypeBox schema/],
    ['kwargs not an object schema', [source(contract({ 1: { name: 'a', args: {}, kwargs: Type.String(), result } }))], /version 1, kwargs: must be a TypeBox Type\.Object/],
    ['bad task key', [source(contract({ 1: { name: 'a', args: {}, result } }, 'do_it'))], /task "do_it": task keys must be camelCase/],
    ['task key a Python keyword', [source(contract({ 1: { name: 'a', args: {}, result } }, 'import'))], /task "import": "import" cannot name a task/],
    ['task key reserved in TypeScript', [source(contract({ 1: { name: 'a', args: {}, result } }, 'delete'))], /task "delete": "delete" cannot name a task/],
    ['task key taken by the generated code', [source(contract({ 1: { name: 'a', args: {}, result } }, 'sharedTask'))], /task "sharedTask": "sharedTask" cannot name a task/],
    ['task key that would make the client awaitable', [source(contract({ 1: { name: 'a', args: {}, result } }, 'then'))], /task "then": "then" cannot name a task/],
    ['task key of Object.prototype', [source(contract({ 1: { name: 'a', args: {}, result } }, 'constructor'))], /task "constructor": "constructor" cannot name a task/],
    ['a $ref the validators cannot resolve', [source(contract({ 1: { name: 'a', args: { inner: Type.Ref('Inner') }, result } }))], /version 1, arg "inner": uses \$ref "Inner"/],
    ['a $ref in the result', [source(contract({ 1: { name: 'a', args: {}, result: Type.Object({ inner: Type.Ref('Inner') }) } }))], /version 1, result: uses \$ref "Inner"/],
    ['task key taken by the Python module (its warnings import)', [source(contract({ 1: { name: 'a', args: {}, result } }, 'warnings'))], /task "warnings": "warnings" cannot name a task/],
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
    ['queueType not a queue type', [source({ ...(contract({ 1: { name: 'a', args: {}, result } }) as object), queueType: 'Quorum' })], /contracts\/svc\.ts, service "svc": "queueType" must be 'classic' or 'quorum' \(got "Quorum"\)/],
    ['queueType not a string', [source({ ...(contract({ 1: { name: 'a', args: {}, result } }) as object), queueType: 2 })], /service "svc": "queueType" must be 'classic' or 'quorum' \(got a number\)/],
    ['queueType on a version', [source(contract({ 1: { name: 'a', args: {}, result, queueType: 'quorum' } }))], /task "doIt", version 1, queueType: the queue type is set once per service, next to its "queue"/],
    [
      'one queue given two types by two contracts',
      [source(contract({ 1: { name: 'a', args: {}, result } })), source({ ...(contract({ 1: { name: 'b', queue: 'svc', args: {}, result } }, 'other', 'svc2') as object), queueType: 'quorum' }, 'contracts/svc2.ts')],
      /contracts\/svc2\.ts, service "svc2": queue "svc" is quorum here but classic in contracts\/svc\.ts, service "svc"; a queue has one type/,
    ],
    [
      'the same service twice',
      [source(contract({ 1: { name: 'a', args: {}, result } })), source(contract({ 1: { name: 'b', args: {}, result } }), 'contracts/again.ts')],
      /service "svc" is also declared in/,
    ],
  ];
  for (const [name, sources, message] of cases) {
    it(name, () => expect(failure(sources)).to.match(message));
  }

  it('generate() itself refuses a contract text importing something besides TypeBox', () => {
    const text = "import x from './shared.js';\nexport default {};\n";
    expect(() => generate([source(contract({ 1: { name: 'a', args: {}, result } }), 'contracts/svc.ts', text)]))
      .to.throw(ContractSourceError, /^contracts\/svc\.ts:1:1: imports "\.\/shared\.js"; a contract may import only @sinclair\/typebox/);
  });

  it('accepts a well-formed contract', () => {
    const files = generate([source(contract({ 1: { name: 'a', args: { k: Type.String() }, result } }))]);
    expect(files.size).to.equal(11);
    // The manifest lists every other file of its package: what generate may later overwrite or delete.
    const listed = (JSON.parse(files.get('svc-bindings/.taskbus-manifest.json')!) as { files: string[] }).files;
    expect(listed.map((p) => `svc-bindings/${p}`)).to.deep.equal([...files.keys()].filter((p) => !p.endsWith('.taskbus-manifest.json')).sort());
  });

  it("passes queueType 'quorum' to every task definition; 'classic' written out gives the same files as none", () => {
    const base = contract({ 1: { name: 'a', args: { k: Type.String() }, result }, 2: { name: 'b', queue: 'svc.slow', args: {}, result } }) as object;
    const tasks = (queueType?: string) => generate([source(queueType ? { ...base, queueType } : base)]).get('svc-bindings/src/tasks.ts')!;
    expect(tasks('quorum').match(/queueType: 'quorum',/g)).to.have.length(2);
    expect(tasks()).not.to.include('queueType');
    expect([...generate([source({ ...base, queueType: 'classic' })])]).to.deep.equal([...generate([source(base)])]);
  });

  it('rejects unknown generate options instead of ignoring them', () => {
    expect(() => generate([], { runtimeRnage: '^1' } as never)).to.throw(TypeError, /unknown generate option "runtimeRnage"/);
  });
});

/** A valid contract, then `extra` appended (or used instead with `whole`). */
const GOOD = [
  "import { Type } from '@sinclair/typebox';",
  "export default { service: 'svc', version: '1.0.0', queue: 'svc', tasks: { doIt: { versions: { 1: { name: 'svc.do_it', args: { k: Type.String() }, result: Type.Null() } } } } };",
].join('\n');
const RULE = 'a contract may import only @sinclair/typebox (with import or export ... from), since it is copied into the bindings package';

describe('codegen loadContracts: parsed and type-checked before it runs, TypeBox only', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'taskbus-contracts-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function load(files: Record<string, string>): Promise<unknown> {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    try {
      return await loadContracts(dir);
    } catch (e) {
      return e;
    }
  }

  // [case, text appended to a good contract on line 3, expected diagnostic at svc.ts:<line:col>]
  const refused: [string, string, string][] = [
    ['a syntax error', 'const x = ;', '3:11: Expression expected.'],
    ['a misspelt TypeBox call (real TypeBox types)', 'Type.Strin();', "3:6: Property 'Strin' does not exist on type 'JavaScriptTypeBuilder'. Did you mean 'String'?"],
    ['an undefined name', 'missing.foo;', "3:1: Cannot find name 'missing'."],
    ['a type error', "const n: number = 'a';", "3:7: Type 'string' is not assignable to type 'number'."],
    ['an import declaration', "import { readFile } from 'node:fs';", `3:1: imports "node:fs"; ${RULE}`],
    ['a type-only import', "import type { Stats } from 'node:fs';", `3:1: imports "node:fs"; ${RULE}`],
    ['a side-effect import', "import './setup.js';", `3:1: imports "./setup.js"; ${RULE}`],
    ['export ... from', "export { readFile } from 'node:fs';", `3:1: re-exports "node:fs"; ${RULE}`],
    ['export * from', "export * from 'node:fs';", `3:1: re-exports "node:fs"; ${RULE}`],
    ['a dynamic import()', "await import('node:fs');", `3:7: imports "node:fs" with import(); ${RULE}`],
    ['a computed dynamic import()', "const m = 'fs'; await import(m);", `3:23: imports m (computed) with import(); ${RULE}`],
    ['import = require()', "import fs = require('fs');", `3:1: imports "fs" with import = require(); ${RULE}`],
    ['a require() call', "require('fs');", `3:1: imports "fs" with require(); ${RULE}`],
    ['import.meta', 'const u = import.meta.url;', `3:11: uses import.meta; ${RULE}`],
    ['an import type', "type S = import('node:fs').Stats;", `3:10: imports "node:fs" in a type; ${RULE}`],
  ];
  for (const [name, extra, want] of refused) {
    it(`refuses ${name} with file:line:col, running nothing`, async () => {
      const e = await load({ 'svc.ts': `${GOOD}\n${extra}\n` });
      expect(e).to.be.instanceOf(ContractSourceError);
      const [line, ...rest] = (e as ContractSourceError).message.split('\n');
      expect(rest, 'one line per diagnostic').to.deep.equal([]);
      expect(line).to.match(/svc\.ts:\d+:\d+: /);
      expect(line!.slice(line!.indexOf('svc.ts:') + 'svc.ts:'.length)).to.equal(want);
    });
  }

  it('refuses a /// reference directive', async () => {
    const e = await load({ 'svc.ts': `/// <reference types="node" />\n${GOOD}\n` });
    expect(e).to.be.instanceOf(ContractSourceError);
    expect((e as Error).message).to.match(/svc\.ts:1:23: references "node" with a \/\/\/ directive; a contract may import only/);
  });

  it('accepts TypeBox in every allowed form (import, import type, export from)', async () => {
    const extra = "import type { Static } from '@sinclair/typebox';\nexport { Type as T } from '@sinclair/typebox';\ntype S = Static<ReturnType<typeof Type.String>>;\n";
    const loaded = await load({ 'svc.ts': `${GOOD}\n${extra}` });
    expect(loaded).to.be.an('array').with.length(1);
  });

  it('type-checks every contract before evaluating any', async () => {
    const marker = `taskbus-ran-${process.pid}`;
    const ran = `(globalThis as unknown as Record<string, unknown>)['${marker}'] = true;`;
    const e = await load({ 'a.ts': `${GOOD}\n${ran}\n`, 'b.ts': GOOD.replace("Type.Null()", 'Type.Nul()') });
    expect(e).to.be.instanceOf(ContractSourceError);
    expect((e as Error).message).to.match(/b\.ts:2:\d+: Property 'Nul' does not exist/);
    expect((globalThis as Record<string, unknown>)[marker]).to.equal(undefined);
  });

  const thrown: [string, string, string][] = [
    ['a top-level throw', "throw new Error('boom');", 'boom'],
    ['a runtime TypeError', 'const o: { a?: { b: number } } = {};\no.a!.b;', "Cannot read properties of undefined (reading 'b')"],
    ['a thrown non-error', 'throw 42;', '42'],
  ];
  for (const [name, extra, message] of thrown) {
    it(`reports ${name} while evaluating as "file: contract failed to evaluate", without stack or data: URL`, async () => {
      const e = await load({ 'svc.ts': `${GOOD}\n${extra}\n` });
      expect(e).to.be.instanceOf(ContractDefinitionError);
      expect((e as Error).message).to.match(/svc\.ts: contract failed to evaluate: /);
      expect((e as Error).message.endsWith(`svc.ts: contract failed to evaluate: ${message}`)).to.equal(true, (e as Error).message);
      expect((e as Error).message).to.not.include('data:');
      expect((e as Error).message).to.not.match(/\n\s+at /);
    });
  }
});
