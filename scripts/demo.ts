// The seed's example end to end: service A (v1) and service B (v2 via the delegate) save items and back
// them up through the pusher worker into S3. Starts a local S3 server unless S3_ENDPOINT is set.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client, s3ConfigFromEnv } from '@taskbus-example/pusher';
import { connectClient, TaskbusError } from '@taskbus/runtime';
import { startLocalS3, type LocalS3 } from './local-s3.js';

const ITEMS_PER_SERVICE = 3;
const DEADLINE_MS = 60_000;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

function start(name: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [`services/${name}/dist/main.js`], {
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.once('exit', (code, signal) => {
    if (!stopping) fail(`${name} exited early (code ${code}, signal ${signal}); see its log above`);
  });
  return child;
}

async function untilOk<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${e instanceof Error ? e.message : String(e)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function put(port: number, id: string, body: unknown): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/items/${id}`, { method: 'PUT', body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`PUT /items/${id} answered ${res.status}: ${await res.text()}`);
}

let stopping = false;
const children: ChildProcess[] = [];
let localS3: LocalS3 | null = null;

/** SIGTERM to every service; each must drain and exit 0. Returns the names of those that did not. */
async function stopAll(): Promise<string[]> {
  stopping = true;
  const codes = await Promise.all(
    children.map(async (c) => {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        await once(c, 'exit');
      }
      return c.exitCode === 0 ? null : `${c.spawnargs.at(-1)} (exit ${c.exitCode ?? c.signalCode})`;
    }),
  );
  await localS3?.close();
  return codes.filter((c): c is string => c !== null);
}

function fail(message: string): never {
  process.stderr.write(`demo: ${message}\n`);
  void stopAll().finally(() => process.exit(1));
  throw new Error(message);
}

async function demo(): Promise<void> {
  // Fail in one line, before starting anything, when there is no broker.
  await (await connectClient({ connectionName: 'taskbus demo' })).close();

  if (!process.env['S3_ENDPOINT']) {
    localS3 = await startLocalS3([s3ConfigFromEnv().bucket]);
    Object.assign(process.env, localS3.env);
    console.log(`local S3 server at ${localS3.endpoint}`);
  }
  const config = s3ConfigFromEnv();
  const bucket = config.bucket;
  const env = process.env;
  const [portA, portB] = [await freePort(), await freePort()];
  children.push(start('pusher', env), start('service-a', { ...env, PORT: String(portA) }), start('service-b', { ...env, PORT: String(portB) }));

  const run = new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14);
  const keys: string[] = [];
  for (const [service, port] of [['service-a', portA], ['service-b', portB]] as const) {
    for (let i = 1; i <= ITEMS_PER_SERVICE; i++) {
      const id = `demo-${run}-${i}`;
      await untilOk(`${service} to accept items`, () => put(port, id, { title: `item ${i} of ${service}`, savedBy: 'demo' }));
      keys.push(`${service}/items/${id}.json`);
    }
  }

  const s3 = createS3Client(config);
  console.log(`\nbackups in s3://${bucket}:`);
  for (const key of keys) {
    // A local server may show an object empty while it is still being written; items are never empty.
    const head = await untilOk(`s3://${bucket}/${key}`, async () => {
      const h = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      if (!h.ContentLength) throw new Error('still empty');
      return h;
    });
    console.log(`  ${key}  ${head.ContentLength} bytes`);
  }
  s3.destroy();
  const unclean = await stopAll();
  if (unclean.length > 0) fail(`did not stop cleanly on SIGTERM: ${unclean.join(', ')}`);
  console.log(`\nall ${keys.length} items backed up; stopped pusher, service-a and service-b`);
}

demo().catch((e: unknown) => {
  if (e instanceof TaskbusError) fail(e.message);
  fail(e instanceof Error ? e.message : String(e));
});
