import { cpSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { taskbus } from '../support/cli.js';

describe('taskbus generate (CLI)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'taskbus-cli-'));
    cpSync('contracts', join(dir, 'contracts'), { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the bindings package, then --check passes and writes nothing', async () => {
    const gen = await taskbus(dir, 'generate');
    expect(gen.code, gen.stderr).to.equal(0);
    expect(gen.stdout).to.match(/generated 10 files in generated/);
    expect(existsSync(join(dir, 'generated/pusher-bindings/src/client.ts'))).to.equal(true);
    expect(existsSync(join(dir, 'generated/pusher-bindings/python/pusher_bindings.py'))).to.equal(true);
    const check = await taskbus(dir, 'generate', '--check');
    expect(check.code).to.equal(0);
    expect(check.stdout).to.match(/up to date/);
  });

  it('--check lists stale, missing and extra files and exits 1 without touching them', async () => {
    await taskbus(dir, 'generate');
    const client = join(dir, 'generated/pusher-bindings/src/client.ts');
    writeFileSync(client, readFileSync(client, 'utf8') + '// hand edit\n');
    rmSync(join(dir, 'generated/pusher-bindings/src/worker.ts'));
    writeFileSync(join(dir, 'generated/pusher-bindings/src/stray.ts'), '');
    const check = await taskbus(dir, 'generate', '--check');
    expect(check.code).to.equal(1);
    expect(check.stderr).to.include('stale: generated/pusher-bindings/src/client.ts');
    expect(check.stderr).to.include('missing: generated/pusher-bindings/src/worker.ts');
    expect(check.stderr).to.include('extra: generated/pusher-bindings/src/stray.ts');
    expect(check.stderr).to.match(/not up to date .* run `taskbus generate`/);
    expect(readFileSync(client, 'utf8')).to.match(/\/\/ hand edit\n$/);
    // A regeneration repairs all three.
    expect((await taskbus(dir, 'generate')).code).to.equal(0);
    expect((await taskbus(dir, 'generate', '--check')).code).to.equal(0);
    expect(existsSync(join(dir, 'generated/pusher-bindings/src/stray.ts'))).to.equal(false);
  });

  it('a malformed contract fails with exit 2 and names the file, service, task and version', async () => {
    const path = join(dir, 'contracts/pusher.ts');
    writeFileSync(path, readFileSync(path, 'utf8').replace("content: Type.String() },\n          result", "content: 'string' },\n          result"));
    const gen = await taskbus(dir, 'generate');
    expect(gen.code).to.equal(2);
    expect(gen.stderr.trim()).to.equal(
      'taskbus: contracts/pusher.ts, service "pusher", task "sendToS3", version 1, arg "content": is not a TypeBox schema (use Type.String(), Type.Object(...), ...)',
    );
    expect(existsSync(join(dir, 'generated'))).to.equal(false);
  });

  // [case, line appended to contracts/pusher.ts (line 43), the complete stderr]
  const SUMMARY = 'taskbus: 1 problem(s) in the contracts; nothing was generated';
  const RULE = 'a contract may import only @sinclair/typebox (with import or export ... from), since it is copied into the bindings package';
  const broken: [string, string, string[]][] = [
    ['a syntax error', 'const x = ;', ['contracts/pusher.ts:43:11: Expression expected.', SUMMARY]],
    ['a type error against the real TypeBox', 'Type.Strin();', ["contracts/pusher.ts:43:6: Property 'Strin' does not exist on type 'JavaScriptTypeBuilder'. Did you mean 'String'?", SUMMARY]],
    ['a reference to an undefined name', 'missing.foo;', ["contracts/pusher.ts:43:1: Cannot find name 'missing'.", SUMMARY]],
    ['a throw while evaluating', "throw new Error('boom');", ['taskbus: contracts/pusher.ts: contract failed to evaluate: boom']],
    ['export * from a module', "export * from 'node:fs';", [`contracts/pusher.ts:43:1: re-exports "node:fs"; ${RULE}`, SUMMARY]],
    ['a dynamic import', "await import('node:fs');", [`contracts/pusher.ts:43:7: imports "node:fs" with import(); ${RULE}`, SUMMARY]],
    ['require()', "require('fs');", [`contracts/pusher.ts:43:1: imports "fs" with require(); ${RULE}`, SUMMARY]],
  ];
  for (const [name, line, stderr] of broken) {
    it(`a contract with ${name} exits 2 with one line per problem, no stack and no data: URL`, async () => {
      const path = join(dir, 'contracts/pusher.ts');
      writeFileSync(path, `${readFileSync(path, 'utf8')}${line}\n`);
      const gen = await taskbus(dir, 'generate');
      expect(gen.code, gen.stderr).to.equal(2);
      expect(gen.stderr.trimEnd().split('\n')).to.deep.equal(stderr);
      expect(existsSync(join(dir, 'generated'))).to.equal(false);
    });
  }

  it('a missing contracts directory is a usage error', async () => {
    const gen = await taskbus(dir, 'generate', '--contracts', 'nope');
    expect(gen.code).to.equal(2);
    expect(gen.stderr).to.match(/contracts directory "nope" does not exist/);
  });

  it('an unknown option is refused', async () => {
    const gen = await taskbus(dir, 'generate', '--chek');
    expect(gen.code).to.not.equal(0);
    expect(gen.stderr).to.match(/unknown option '--chek'/);
  });
});
