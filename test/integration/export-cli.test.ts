import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { taskbus, TASKBUS_BIN } from '../support/cli.js';
import { runProcess } from '../support/process.js';

/** Every file under a directory, relative, with its text: a snapshot to compare runs by. */
function tree(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files[join(entry.parentPath, entry.name).slice(root.length + 1)] = readFileSync(join(entry.parentPath, entry.name), 'utf8');
  }
  return files;
}

describe('taskbus export (CLI)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'taskbus-export-'));
    cpSync('contracts', join(dir, 'contracts'), { recursive: true });
    cpSync('test/golden/kwargs-and-queues/contracts', join(dir, 'contracts'), { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('asyncapi prints the document on stdout, and --out writes the same text, identical run to run', async () => {
    const printed = await taskbus(dir, 'export', 'asyncapi');
    expect(printed.code, printed.stderr).to.equal(0);
    const doc = JSON.parse(printed.stdout) as { asyncapi: string; channels: Record<string, unknown> };
    expect(doc.asyncapi).to.equal('3.0.0');
    expect(Object.keys(doc.channels).sort()).to.deep.equal(['queue.images', 'queue.images.low', 'queue.pusher', 'replies']);
    const written = await taskbus(dir, 'export', 'asyncapi', '--out', 'docs/asyncapi.json');
    expect(written.code, written.stderr).to.equal(0);
    expect(written.stdout.trim()).to.equal('wrote docs/asyncapi.json');
    const first = readFileSync(join(dir, 'docs/asyncapi.json'), 'utf8');
    expect(first).to.equal(printed.stdout);
    expect((await taskbus(dir, 'export', 'asyncapi', '--out', 'docs/asyncapi.json')).code).to.equal(0);
    expect(readFileSync(join(dir, 'docs/asyncapi.json'), 'utf8')).to.equal(first);
  });

  const servers: ReadonlyArray<readonly [name: string, amqpUrl: string, broker: Record<string, string>]> = [
    ["names AMQP_URL's host and vhost as the server", 'amqps://deployer:pa55-w0rd@rabbit.example:5671/prod', { protocol: 'amqps', host: 'rabbit.example:5671' }],
    ['names the first broker of an AMQP_URL list', 'amqp://deployer:pa55-w0rd@rabbit-1:5672/prod;amqp://deployer:pa55-w0rd@rabbit-2:5672/prod', { protocol: 'amqp', host: 'rabbit-1:5672' }],
  ];
  for (const [name, amqpUrl, broker] of servers) {
    it(`${name}, never its user or password`, async () => {
      const run = await runProcess(process.execPath, [TASKBUS_BIN, 'export', 'asyncapi'], { cwd: dir, env: { AMQP_URL: amqpUrl } });
      expect(run.code, run.stderr).to.equal(0);
      expect((JSON.parse(run.stdout) as { servers: unknown }).servers).to.deep.equal({ broker: { ...broker, pathname: '/prod', description: 'RabbitMQ' } });
      expect(run.stdout + run.stderr).not.to.match(/pa55-w0rd|deployer/);
    });
  }

  it('an AMQP_URL that is not an amqp:// URL is a usage error, shown without its password', async () => {
    const run = await runProcess(process.execPath, [TASKBUS_BIN, 'export', 'asyncapi'], { cwd: dir, env: { AMQP_URL: 'http://deployer:pa55-w0rd@rabbit.example/' } });
    expect(run.code).to.equal(2);
    expect(run.stderr.trim()).to.match(/^taskbus: AMQP_URL .* must start with amqp:\/\/ or amqps:\/\/$/);
    expect(run.stdout + run.stderr).not.to.include('pa55-w0rd');
  });

  it('jsonschema writes args, kwargs and result schemas per task version, identical run to run', async () => {
    const run = await taskbus(dir, 'export', 'jsonschema', '--out', 'schemas');
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout.trim()).to.equal('wrote 11 schemas in schemas');
    const first = tree(join(dir, 'schemas'));
    expect(Object.keys(first)).to.include.members([
      'pusher/pusher.send_to_s3.args.json',
      'pusher/pusher.send_to_s3_v2.result.json',
      'image-resizer/images.resize.kwargs.json',
    ]);
    expect(existsSync(join(dir, 'schemas/pusher/pusher.send_to_s3.kwargs.json'))).to.equal(false);
    expect((await taskbus(dir, 'export', 'jsonschema', '--out', 'schemas')).code).to.equal(0);
    expect(tree(join(dir, 'schemas'))).to.deep.equal(first);
  });

  // [command, the complete stderr]
  const usage: [string[], RegExp][] = [
    [['export', 'asyncapi', '--contracts', 'nowhere'], /^taskbus: contracts directory "nowhere" does not exist \(pass --contracts <dir>\)$/],
    [['export', 'jsonschema', '--contracts', 'nowhere', '--out', 'schemas'], /^taskbus: contracts directory "nowhere" does not exist \(pass --contracts <dir>\)$/],
    [['export', 'jsonschema'], /required option '--out <dir>' not specified/],
  ];
  for (const [args, stderr] of usage) {
    it(`\`taskbus ${args.join(' ')}\` is a usage error: exit 2, nothing written`, async () => {
      const run = await taskbus(dir, ...args);
      expect(run.code).to.equal(2);
      expect(run.stderr.trim().split('\n')[0]).to.match(stderr);
      expect(readdirSync(dir)).to.deep.equal(['contracts']);
    });
  }

  for (const argv of [['export'], ['export', 'asyncapi'], ['export', 'jsonschema']]) {
    it(`taskbus ${argv.join(' ')} --help shows examples, the environment and exit codes (exit 0)`, async () => {
      const run = await taskbus(dir, ...argv, '--help');
      expect(run.code).to.equal(0);
      expect(run.stdout).to.match(/Examples:\n  \$ taskbus export /);
      expect(run.stdout).to.include('AMQP_URL');
      expect(run.stdout).to.match(/70 +internal error/);
    });
  }

  it('a broken contract is exit 2 naming the file, and nothing is written', async () => {
    cpSync('contracts/pusher.ts', join(dir, 'contracts/broken.ts'));
    const run = await taskbus(dir, 'export', 'jsonschema', '--out', 'schemas');
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(/contracts\/(broken|pusher)\.ts.*service "pusher" is also declared in contracts\/(broken|pusher)\.ts/);
    expect(existsSync(join(dir, 'schemas'))).to.equal(false);
  });
});
