import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectClient, RemoteTaskError, untypedTask } from '@taskbus/runtime';
import { expect } from 'chai';
import { AMQP_URL, rawBroker, waitFor } from '../support/broker.js';
import { taskbus } from '../support/cli.js';
import { runProcess } from '../support/process.js';

const TSC = join(process.cwd(), 'node_modules/typescript/bin/tsc');

/** Strict, and library types checked too: the scaffold must compile as written, in a project of its own. */
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    skipLibCheck: false,
    types: ['node'],
    rootDir: 'services/widget/src',
    outDir: 'dist',
  },
  include: ['services/widget/src'],
};

describe('taskbus new + generate + scaffold worker: a worker from scratch', function () {
  this.timeout(180_000);
  let dir: string;
  let worker: ChildProcess | undefined;
  let log = '';

  // Inside the repository, so @taskbus/runtime and TypeBox resolve from its node_modules.
  before(() => (dir = mkdtempSync(join(process.cwd(), '.tmp-scaffold-'))));
  after(async () => {
    worker?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    const broker = await rawBroker();
    for (const q of ['widget', 'widget.dlq']) await broker.channel.deleteQueue(q);
    await broker.close();
  });

  async function ok(...args: string[]): Promise<string> {
    const run = await taskbus(dir, ...args);
    expect(run.code, `taskbus ${args.join(' ')}: ${run.stderr}`).to.equal(0);
    return run.stdout;
  }

  it('compiles as written with tsc strict, runs, and a call gets NotImplementedError back', async () => {
    expect(await ok('new', 'widget')).to.include('wrote contracts/widget.ts');
    await ok('generate');
    expect(await ok('scaffold', 'worker', 'widget')).to.include('wrote services/widget/src/handlers.ts');

    // The bindings built and installed as a package, the scaffold compiled unchanged.
    const build = await runProcess(process.execPath, [TSC, '-p', 'generated/widget-bindings/tsconfig.json'], { cwd: dir });
    expect(build.code, build.stdout + build.stderr).to.equal(0);
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync('../generated/widget-bindings', join(dir, 'node_modules/widget-bindings'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    const tsc = await runProcess(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: dir });
    expect(tsc.code, tsc.stdout + tsc.stderr).to.equal(0);

    worker = spawn(process.execPath, ['dist/main.js'], { cwd: dir, env: { ...process.env, AMQP_URL }, stdio: ['ignore', 'pipe', 'pipe'] });
    worker.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    worker.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    await waitFor('the scaffolded worker to start', () => (log.includes('worker started') ? true : undefined), 30_000);

    const client = await connectClient({ url: AMQP_URL });
    try {
      const sent = await client.send(untypedTask('widget.hello', 'widget'), ['bob'], {});
      const err = await sent.result({ timeoutMs: 20_000 }).then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(RemoteTaskError);
      expect(err).to.include({ excType: 'NotImplementedError', excMessage: 'widget.hello is not implemented yet: write it in WidgetWorker (handlers.ts)' });
    } finally {
      await client.close();
    }
  });

  it('never overwrites: a second scaffold or new exits 1 naming the files and writes nothing', async () => {
    const handlers = join(dir, 'services/widget/src/handlers.ts');
    writeFileSync(handlers, '// mine\n');
    rmSync(join(dir, 'services/widget/src/main.ts'));
    const again = await taskbus(dir, 'scaffold', 'worker', 'widget');
    expect(again.code).to.equal(1);
    expect(again.stderr.trim()).to.equal('taskbus: will not overwrite services/widget/src/handlers.ts: already there; nothing was written (move them away first)');
    expect(readFileSync(handlers, 'utf8')).to.equal('// mine\n');
    expect(() => readFileSync(join(dir, 'services/widget/src/main.ts')), 'main.ts not written either').to.throw(/ENOENT/);
    const contract = readFileSync(join(dir, 'contracts/widget.ts'), 'utf8');
    const renew = await taskbus(dir, 'new', 'widget');
    expect(renew.code).to.equal(1);
    expect(renew.stderr).to.include('will not overwrite contracts/widget.ts');
    expect(readFileSync(join(dir, 'contracts/widget.ts'), 'utf8')).to.equal(contract);
  });

  it('a service no contract declares is a usage error naming the declared ones', async () => {
    const run = await taskbus(dir, 'scaffold', 'worker', 'gadget');
    expect(run.code).to.equal(2);
    expect(run.stderr.trim()).to.equal('taskbus: no contract in contracts/ declares service "gadget" (declared: widget); write one with `taskbus new gadget`');
  });
});
