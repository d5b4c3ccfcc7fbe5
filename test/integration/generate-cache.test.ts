import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { syntheticContract } from '../../bench/generate.js';
import { taskbus } from '../support/cli.js';
import { runProcess } from '../support/process.js';

interface CacheData {
  format: number;
  contracts: Record<string, string>;
  packages: Record<string, Record<string, string>>;
}

/** The one cache file of a project, parsed; undefined when there is none. */
function cacheOf(project: string): CacheData | undefined {
  const dir = join(project, 'node_modules/.cache/taskbus');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
  expect(files.length, 'cache files').to.be.at.most(1);
  return files[0] ? (JSON.parse(readFileSync(join(dir, files[0]), 'utf8')) as CacheData) : undefined;
}

function writeCache(project: string, cache: unknown): void {
  const dir = join(project, 'node_modules/.cache/taskbus');
  writeFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.json'))!), typeof cache === 'string' ? cache : JSON.stringify(cache));
}

describe('taskbus generate: unchanged contracts are neither type-checked nor generated again (node_modules/.cache)', function () {
  this.timeout(120_000);
  let project: string;
  beforeEach(() => {
    project = mkdtempSync(join(tmpdir(), 'taskbus-cache-'));
    writeFileSync(join(project, 'package.json'), '{ "name": "cache-test", "private": true }\n');
    cpSync('contracts', join(project, 'contracts'), { recursive: true });
    writeFileSync(join(project, 'contracts/svc-001.ts'), syntheticContract(1));
  });
  afterEach(() => rmSync(project, { recursive: true, force: true }));

  it('remembers each passing contract, and a remembered one is taken from the cache, not checked or compiled again', async () => {
    expect((await taskbus(project, 'generate')).code).to.equal(0);
    const cache = cacheOf(project)!;
    // Each contract, and its copy in the bindings (read as the previous version once the contract is edited).
    expect(Object.keys(cache.contracts)).to.have.length(4);
    expect(Object.keys(cache.packages)).to.have.length(2);
    // Proof that the cache is what runs: its JavaScript for the synthetic contract, edited by hand, is what generate
    // sees once its package is generated again (not taken from the cache either).
    const edited = Object.entries(cache.contracts).map(([k, js]) => [k, js.replace('Synthetic service 1 for', 'From the cache:')]);
    const key = edited.find(([, js]) => js!.includes('From the cache:'))![0]!;
    const packages = Object.fromEntries(Object.entries(cache.packages).filter(([, files]) => !files['README.md']!.includes('svc-001')));
    writeCache(project, { ...cache, contracts: Object.fromEntries(edited), packages });
    expect((await taskbus(project, 'generate')).code).to.equal(0);
    expect(readFileSync(join(project, 'generated/svc-001-bindings/README.md'), 'utf8')).to.include('From the cache:');
    // A package in the cache is taken as it is there.
    const later = cacheOf(project)!;
    const readmeKey = Object.entries(later.packages).find(([, files]) => files['README.md']!.includes('From the cache:'))![0];
    writeCache(project, { ...later, packages: { ...later.packages, [readmeKey]: { ...later.packages[readmeKey], 'README.md': 'From the package cache\n' } } });
    expect((await taskbus(project, 'generate')).code).to.equal(0);
    expect(readFileSync(join(project, 'generated/svc-001-bindings/README.md'), 'utf8')).to.equal('From the package cache\n');
    // --no-cache checks and compiles everything, and leaves the cache file alone.
    expect((await taskbus(project, 'generate', '--no-cache')).code).to.equal(0);
    expect(readFileSync(join(project, 'generated/svc-001-bindings/README.md'), 'utf8')).to.include('Synthetic service 1 for');
    expect(cacheOf(project)!.contracts[key]).to.include('From the cache:');
  });

  it('a generated file edited by hand is found stale and repaired, whatever the cache holds', async () => {
    expect((await taskbus(project, 'generate')).code).to.equal(0);
    const client = join(project, 'generated/svc-001-bindings/src/client.ts');
    const original = readFileSync(client, 'utf8');
    writeFileSync(client, `${original}// hand edit\n`);
    const check = await taskbus(project, 'generate', '--check');
    expect(check.code).to.equal(1);
    expect(check.stderr).to.include('stale: generated/svc-001-bindings/src/client.ts');
    expect((await taskbus(project, 'generate')).code).to.equal(0);
    expect(readFileSync(client, 'utf8')).to.equal(original);
  });

  it('an edited contract is checked again, its problems reported word for word as without a cache, and nothing is written', async () => {
    expect((await taskbus(project, 'generate')).code).to.equal(0);
    const before = cacheOf(project)!;
    const path = join(project, 'contracts/svc-001.ts');
    writeFileSync(path, `${readFileSync(path, 'utf8')}Type.Strin();\nconst n: number = 'one';\n`);
    const cached = await taskbus(project, 'generate');
    const uncached = await taskbus(project, 'generate', '--no-cache');
    expect(cached.code, cached.stderr).to.equal(2);
    expect(cached.stderr).to.include("Property 'Strin' does not exist").and.to.include("Type 'string' is not assignable to type 'number'");
    expect(cached.stderr).to.equal(uncached.stderr);
    expect(cacheOf(project)).to.deep.equal(before);
    // Fixed again: the edit is remembered in place of the old text, which is forgotten.
    writeFileSync(path, `${syntheticContract(1)}// edited\n`);
    expect((await taskbus(project, 'generate')).code).to.equal(0);
    const after = cacheOf(project)!;
    expect(Object.keys(after.contracts)).to.have.length(4);
    expect(Object.keys(after.contracts).filter((k) => k in before.contracts), 'pusher and its copy').to.have.length(2);
  });

  it('a contract that can change how others type-check (declare global) turns the cache off for the run', async () => {
    expect((await taskbus(project, 'generate')).code).to.equal(0);
    const path = join(project, 'contracts/svc-001.ts');
    writeFileSync(path, `${readFileSync(path, 'utf8')}declare global {\n  interface Array<T> { extra: T }\n}\n`);
    const gen = await taskbus(project, 'generate');
    expect(gen.code, gen.stderr).to.equal(0);
    expect(cacheOf(project)!.contracts).to.deep.equal({});
  });

  it('a damaged or foreign cache file is ignored and replaced; --check reads the cache but writes nothing', async () => {
    expect((await taskbus(project, 'generate', '--check')).code).to.equal(1);
    expect(cacheOf(project), 'written by --check').to.equal(undefined);
    expect((await taskbus(project, 'generate')).code).to.equal(0);
    for (const damaged of ['{ "format": 2, "contr', '{ "format": 99, "contracts": {}, "packages": {} }', '[]', '{ "format": 2, "contracts": { "k": 3 }, "packages": { "p": { "a": 1 } } }']) {
      writeCache(project, damaged);
      const gen = await taskbus(project, 'generate');
      expect(gen.code, `${damaged}: ${gen.stderr}`).to.equal(0);
      expect(Object.keys(cacheOf(project)!.contracts), damaged).to.have.length(4);
    }
    expect((await taskbus(project, 'generate', '--check')).code).to.equal(0);
  });

  it('a runtime whose queue arguments changed (an upgrade, a workspace edit) has the Python bindings generated again', async () => {
    // The project's own install of taskbus (copies of the built packages, the rest linked), whose runtime is then
    // changed as an upgrade would change it: codegen takes the quorum queue arguments from it.
    const modules = join(project, 'node_modules');
    mkdirSync(join(modules, '@taskbus'), { recursive: true });
    for (const name of readdirSync('node_modules')) if (name !== '@taskbus' && name !== '.cache') symlinkSync(join(process.cwd(), 'node_modules', name), join(modules, name));
    for (const pkg of ['cli', 'codegen', 'runtime']) {
      for (const part of ['package.json', 'dist', 'bin', 'node_modules']) if (existsSync(join(pkg, part))) cpSync(join(pkg, part), join(modules, '@taskbus', pkg, part), { recursive: true });
    }
    const cli = (...args: string[]) => runProcess(process.execPath, [join(modules, '@taskbus/cli/bin/taskbus.js'), ...args], { cwd: project });
    cpSync('test/golden/quorum-queues/contracts/ledger.ts', join(project, 'contracts/ledger.ts'));
    const first = await cli('generate');
    expect(first.code, first.stderr).to.equal(0);
    const queues = join(modules, '@taskbus/runtime/dist/topology/queue-type.js');
    writeFileSync(queues, readFileSync(queues, 'utf8').replace('DEFAULT_DELIVERY_LIMIT = 20', 'DEFAULT_DELIVERY_LIMIT = 21'));
    const check = await cli('generate', '--check');
    expect(check.code, 'generate --check with the cache').to.equal(1);
    expect(check.stderr).to.include('stale: generated/ledger-bindings/python/ledger_bindings.py');
    expect((await cli('generate')).code).to.equal(0);
    expect(readFileSync(join(project, 'generated/ledger-bindings/python/ledger_bindings.py'), 'utf8')).to.include('"x-delivery-limit": 21');
  });
});
