import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { createWorker, silentLogger, untypedTask, type Worker } from '@taskbus/runtime';
import { AMQP_URL, deleteQueues } from '../support/broker.js';
import { taskbus } from '../support/cli.js';
import { runProcess, type ProcessRun } from '../support/process.js';

// The publish flow as a service owner and a caller live it: the runtime and the pusher bindings are
// published to a local registry (verdaccio, temp storage, anonymous publish), a project outside this
// repository installs them by name and compiles strictly against them, and calls a live worker. Then
// 1.1.0 adds a task version: the old caller keeps working, a new one uses it. Needs the public npm
// registry, through verdaccio's uplink, for everything but our own packages.

const REPO = process.cwd();
const PORTS = [4870, 4871, 4872, 4873, 4874, 4875, 4876, 4877, 4878, 4879];
const QUEUE = 'pusher';
/** Our packages are served only from local storage: never looked up upstream. */
const OWN = ['@taskbus/*', 'pusher-bindings'];

function freePort(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer().once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function verdaccioConfig(storage: string, upstream: string): string {
  return [
    `storage: ${JSON.stringify(storage)}`,
    'auth:',
    '  htpasswd:',
    `    file: ${JSON.stringify(join(storage, 'htpasswd'))}`,
    'uplinks:',
    '  npmjs:',
    `    url: ${JSON.stringify(upstream)}`,
    'packages:',
    ...OWN.flatMap((p) => [`  '${p}':`, '    access: $all', '    publish: $anonymous']),
    "  '**':",
    '    access: $all',
    '    proxy: npmjs',
    'log: { type: stdout, format: pretty, level: warn }',
    '',
  ].join('\n');
}

function expectOk(run: ProcessRun, what: string): string {
  expect(run.code, `${what}:\n${run.stdout}\n${run.stderr}`).to.equal(0);
  return run.stdout;
}

/** The old caller: written against 1.0.0 and never changed. */
const OLD_CALLER = `import { connectClient, ContractValidationError } from '@taskbus/runtime';
import { createPusherClient } from 'pusher-bindings';

const client = await connectClient();
try {
  const pusher = createPusherClient(client);
  const stored = await (await pusher.sendToS3('items/1.json', '{"id":1}')).result({ timeoutMs: 30_000 });
  const refused = await pusher.sendToS3('', 'empty key').then(
    () => 'sent',
    (e: unknown) => (e instanceof ContractValidationError ? 'ContractValidationError' : String(e)),
  );
  console.log(JSON.stringify({ etag: stored.etag, refused }));
} finally {
  await client.close();
}
`;

/** The new caller: v3 by name, and the delegate for every version. */
const NEW_CALLER = `import { connectClient } from '@taskbus/runtime';
import { createPusherClient } from 'pusher-bindings';

const client = await connectClient();
try {
  const pusher = createPusherClient(client);
  const sent = await Promise.all([
    pusher.sendToS3V3('items/3.json', '{"id":3}', 'GLACIER'),
    pusher.delegateSendToS3(1, 'd/1.json', '{}'),
    pusher.delegateSendToS3(2, 'd/2.json', '{}', { contentType: 'application/json' }),
    pusher.delegateSendToS3(3, 'd/3.json', '{}', 'STANDARD'),
  ]);
  const stored = await Promise.all(sent.map((s) => s.result({ timeoutMs: 30_000 })));
  console.log(JSON.stringify(stored.map((s) => s.etag)));
} finally {
  await client.close();
}
`;

const V3 = `        3: {
          name: 'pusher.send_to_s3_v3',
          description: 'As v1, with the S3 storage class.',
          args: {
            key: Type.String({ minLength: 1 }),
            content: Type.String(),
            storageClass: Type.Union([Type.Literal('STANDARD'), Type.Literal('GLACIER')]),
          },
          result: StoredObject,
        },
`;

describe('publishing the bindings to a registry and installing them elsewhere', function () {
  this.timeout(240_000);

  let tmp: string;
  let registry: string;
  let verdaccio: ChildProcess | undefined;
  let worker: Worker | undefined;
  const handled: { task: string; args: readonly unknown[] }[] = [];
  let npmEnv: NodeJS.ProcessEnv;

  const npm = async (cwd: string, ...args: string[]) => expectOk(await runProcess('npm', args, { cwd, env: npmEnv }), `npm ${args.join(' ')} in ${cwd}`);
  const run = async (cwd: string, file: string) => expectOk(await runProcess(process.execPath, [file], { cwd, env: { AMQP_URL } }), `node ${file}`);

  before(async function () {
    tmp = mkdtempSync(join(tmpdir(), 'taskbus-publish-'));
    const port = await (async () => {
      for (const p of PORTS) if (await freePort(p)) return p;
      throw new Error(`no free port in ${PORTS[0]}-${PORTS.at(-1)} for the registry`);
    })();
    registry = `http://127.0.0.1:${port}/`;
    const upstream = (await runProcess('npm', ['config', 'get', 'registry'])).stdout.trim();
    const storage = join(tmp, 'registry');
    mkdirSync(storage);
    writeFileSync(join(tmp, 'verdaccio.yaml'), verdaccioConfig(storage, upstream));
    verdaccio = spawn(process.execPath, [join(REPO, 'node_modules/verdaccio/bin/verdaccio'), '--config', join(tmp, 'verdaccio.yaml'), '--listen', `127.0.0.1:${port}`], {
      stdio: 'ignore',
    });
    await waitForRegistry(registry);

    // npm wants a token to publish; verdaccio takes an unknown one as anonymous, which may publish ours.
    // Variables npm sets for scripts (when this runs under `npm test`) must not reach the nested npm.
    const npmrc = join(tmp, 'npmrc');
    writeFileSync(npmrc, `//127.0.0.1:${port}/:_authToken=taskbus-publish-test\n`);
    npmEnv = Object.fromEntries(Object.keys(process.env).filter((k) => k.toLowerCase().startsWith('npm_')).map((k) => [k, undefined]));
    npmEnv['npm_config_globalconfig'] = npmrc;
    npmEnv['npm_config_registry'] = registry;
    npmEnv['npm_config_update_notifier'] = 'false';

    worker = createWorker({ url: AMQP_URL, logger: silentLogger });
    for (const name of ['pusher.send_to_s3', 'pusher.send_to_s3_v2', 'pusher.send_to_s3_v3']) {
      worker.register(untypedTask(name, QUEUE), (args, _kwargs, context) => {
        handled.push({ task: context.task, args });
        // The etag names the task that ran, so each caller can tell which version it reached.
        return { bucket: 'publish-test', key: String(args[0]), etag: context.task };
      });
    }
    await worker.start();
  });

  after(async () => {
    await worker?.stop();
    verdaccio?.kill();
    await deleteQueues(QUEUE);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('publishes the runtime and pusher-bindings 1.0.0; a strict project elsewhere installs and calls them', async () => {
    await npm(join(REPO, 'runtime'), 'publish', '--access', 'public');
    await npm(join(REPO, 'generated/pusher-bindings'), 'publish');

    const app = join(tmp, 'app');
    mkdirSync(join(app, 'src'), { recursive: true });
    const devDependencies = { typescript: '~5.9.3', '@types/node': '^20' };
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'caller', private: true, type: 'module', devDependencies }, null, 2));
    writeFileSync(join(app, '.npmrc'), `registry=${registry}\n`);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: ['node'],
          strict: true,
          skipLibCheck: false,
          rootDir: 'src',
          outDir: 'dist',
        },
        include: ['src'],
      }),
    );
    writeFileSync(join(app, 'src/old-caller.ts'), OLD_CALLER);
    await npm(app, 'install', 'pusher-bindings@^1', '@taskbus/runtime');

    const installed = (name: string) => JSON.parse(readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8')).version as string;
    expect(installed('pusher-bindings')).to.equal('1.0.0');
    // No amqplib types anywhere: the compile below needs none. One runtime and one TypeBox: the peers.
    expect(existsSync(join(app, 'node_modules/@types/amqplib'))).to.equal(false);
    const copies = async (name: string) => (JSON.parse(await npm(app, 'query', `#${name}`)) as unknown[]).length;
    expect(await copies('@taskbus/runtime')).to.equal(1);
    expect(await copies('@sinclair/typebox')).to.equal(1);

    await npm(app, 'exec', '--', 'tsc', '-p', '.');
    const out = JSON.parse(await run(app, 'dist/old-caller.js')) as { etag: string; refused: string };
    expect(out).to.deep.equal({ etag: 'pusher.send_to_s3', refused: 'ContractValidationError' });
    expect(handled.map((h) => h.task)).to.deep.equal(['pusher.send_to_s3']);
  });

  it('publishes 1.1.0 with a new task version: the old caller works unchanged, a new caller and the delegate reach each version', async () => {
    // The service owner's flow: bump the contract, add the version, regenerate, publish.
    const contracts = join(tmp, 'contracts');
    mkdirSync(contracts);
    const contract = readFileSync(join(REPO, 'contracts/pusher.ts'), 'utf8');
    const lastVersionEnd = '        },\n      },\n    },\n  },\n};\n';
    expect(contract.endsWith(lastVersionEnd), 'contracts/pusher.ts ends with its last version').to.equal(true);
    const bumped = `${contract.slice(0, -lastVersionEnd.length).replace("version: '1.0.0'", "version: '1.1.0'")}        },\n${V3}      },\n    },\n  },\n};\n`;
    writeFileSync(join(contracts, 'pusher.ts'), bumped);
    expectOk(await taskbus(tmp, 'generate', '--contracts', 'contracts', '--out', 'generated'), 'taskbus generate');
    const bindings = join(tmp, 'generated/pusher-bindings');
    // Outside this repository the package's dev dependencies (TypeScript, the runtime, TypeBox) come first.
    await npm(bindings, 'install');
    await npm(bindings, 'publish');

    const app = join(tmp, 'app');
    await npm(app, 'update', 'pusher-bindings');
    expect(JSON.parse(readFileSync(join(app, 'node_modules/pusher-bindings/package.json'), 'utf8')).version).to.equal('1.1.0');
    writeFileSync(join(app, 'src/new-caller.ts'), NEW_CALLER);
    await npm(app, 'exec', '--', 'tsc', '-p', '.');

    handled.length = 0;
    const old = JSON.parse(await run(app, 'dist/old-caller.js')) as { etag: string; refused: string };
    expect(old).to.deep.equal({ etag: 'pusher.send_to_s3', refused: 'ContractValidationError' });
    const etags = JSON.parse(await run(app, 'dist/new-caller.js')) as string[];
    expect(etags).to.deep.equal(['pusher.send_to_s3_v3', 'pusher.send_to_s3', 'pusher.send_to_s3_v2', 'pusher.send_to_s3_v3']);
    const byTask = (task: string) => handled.filter((h) => h.task === task).map((h) => h.args);
    expect(byTask('pusher.send_to_s3')).to.deep.equal([['items/1.json', '{"id":1}'], ['d/1.json', '{}']]);
    expect(byTask('pusher.send_to_s3_v2')).to.deep.equal([['d/2.json', '{}', { contentType: 'application/json' }]]);
    expect(byTask('pusher.send_to_s3_v3')).to.have.deep.members([
      ['items/3.json', '{"id":3}', 'GLACIER'],
      ['d/3.json', '{}', 'STANDARD'],
    ]);
  });
});

async function waitForRegistry(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}-/ping`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`verdaccio did not answer at ${url} within 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
