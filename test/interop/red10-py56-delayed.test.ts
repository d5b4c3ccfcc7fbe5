import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, taskQueueArguments, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { queueDepth, rawBroker, recordingLogger, scratchVhost, uniqueQueue, waitFor } from '../support/broker.js';
import { celeryVersions, checkCeleryVersion, PY_DIR, PYTHON } from '../support/python.js';
import { runProcess } from '../support/process.js';

const echo = (queue: string) =>
  defineTask<[n: number], Record<string, never>, number>({ name: 'red10.echo', queue, queueType: 'quorum', args: { n: Type.Number() }, result: Type.Number() });

const celery56 = celeryVersions.find((v) => v.quorum)!;

describe('red10: countdowns between Celery 5.6 and taskbus on quorum queues (native delayed delivery)', function () {
  this.timeout(120_000);
  let vhost: ReturnType<typeof scratchVhost>;
  const started: (Worker | TaskClient)[] = [];
  let PY56: string;
  before(async () => {
    // The vendored Celery 5.6.3, extracted on first use (a clean checkout has no copy of it anywhere yet).
    PY56 = celery56.pythonPath().join(':');
    await checkCeleryVersion(celery56);
    vhost = scratchVhost('red10-py56');
  });
  afterEach(async () => {
    for (const s of started.splice(0)) await ('stop' in s ? s.stop() : s.close());
  });
  after(() => vhost.remove());

  const env = (queue: string, args?: Record<string, unknown>) => ({ ...process.env, PYTHONPATH: PY56, AMQP_URL: vhost.url, RED10_QUEUE: queue, ...(args ? { RED10_ARGS: JSON.stringify(args) } : {}) });

  it('a Celery 5.6 caller schedules a countdown for a TypeScript worker: it waits in the broker and runs when due', async () => {
    const queue = uniqueQueue('red10-py2ts');
    const ran: number[] = [];
    const worker = createWorker({ url: vhost.url, logger: recordingLogger(), queueType: 'quorum' });
    worker.register(echo(queue), ([n]) => (ran.push(Date.now()), n));
    await worker.start();
    started.push(worker);
    const run = runProcess(PYTHON, ['red10_app.py', '11', '3'], { cwd: PY_DIR, env: env(queue, taskQueueArguments(queue, 'quorum')) });
    const raw = await rawBroker(vhost.url);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect(ran, 'not run before its countdown').to.deep.equal([]);
    } finally {
      await raw.close();
    }
    const out = await run;
    expect(out.code, out.stderr + out.stdout).to.equal(0);
    const { result, seconds } = JSON.parse(out.stdout.trim().split('\n').pop()!) as { result: number; seconds: number };
    expect(result).to.equal(11);
    expect(seconds).to.be.at.least(2.5);
  });

  it('a TypeScript caller schedules a countdown for a Celery 5.6 worker on the quorum queue it declared', async () => {
    const queue = uniqueQueue('red10-ts2py');
    const child = spawn(PYTHON, ['-m', 'celery', '-A', 'red10_app', 'worker', '-Q', queue, '-P', 'solo', '-n', `${queue}@%h`, '--without-gossip', '--without-mingle', '--without-heartbeat', '-l', 'INFO'], {
      cwd: PY_DIR,
      env: env(queue),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await waitFor('the Celery 5.6 worker', () => {
        if (child.exitCode !== null) throw new Error(output);
        return /\bready\.\s*$/m.test(output) ? true : undefined;
      }, 60_000);
      const c = await connectClient({ url: vhost.url, logger: recordingLogger() });
      started.push(c);
      const sentAt = Date.now();
      const sent = await c.send(echo(queue), [12], {}, { countdown: 5 });
      const raw = await rawBroker(vhost.url);
      await new Promise((r) => setTimeout(r, 500));
      let waiting = 0;
      for (let n = 0; n <= 2; n++) waiting += (await queueDepth(raw, `celery_delayed_${n}`)) ?? 0;
      await raw.close();
      expect(await sent.result({ timeoutMs: 30_000 }).catch((e: unknown) => String(e) + output)).to.equal(12);
      expect(Date.now() - sentAt).to.be.at.least(5000);
      expect(waiting, 'waiting in the delay levels').to.equal(1);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  async function celeryWorker(queue: string): Promise<{ stop(): Promise<void>; output(): string }> {
    const child = spawn(PYTHON, ['-m', 'celery', '-A', 'red10_app', 'worker', '-Q', queue, '-P', 'solo', '-n', `${queue}-${Date.now()}@%h`, '--without-gossip', '--without-mingle', '--without-heartbeat', '-l', 'INFO'], {
      cwd: PY_DIR,
      env: env(queue),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    };
    try {
      await waitFor('the Celery 5.6 worker', () => {
        if (child.exitCode !== null) throw new Error(output);
        return /\bready\.\s*$/m.test(output) ? true : undefined;
      }, 60_000);
    } catch (e) {
      await stop();
      throw e;
    }
    return { stop, output: () => output };
  }

  it('a Celery 5.6 fleet\'s quorum queue deleted under a TypeScript worker comes back as Celery declared it: the fleet\'s next start is not refused (406)', async () => {
    const queue = uniqueQueue('red10-redeclare');
    const first = await celeryWorker(queue); // declares it: x-queue-type quorum, topic exchange
    await first.stop();
    const log = recordingLogger();
    const worker = createWorker({ url: vhost.url, logger: log, queueType: 'quorum', reconnect: { initialMs: 50, maxMs: 500 } });
    worker.register(echo(queue), ([n]) => n);
    await worker.start();
    started.push(worker);
    const raw = await rawBroker(vhost.url);
    await raw.channel.deleteQueue(queue);
    await raw.close();
    await waitFor('the TypeScript worker re-subscribed', () => (log.records.some((r) => r.message === 'consumer re-subscribed') ? true : undefined));
    const again = await celeryWorker(queue).then((w) => w, (e: unknown) => String(e).split('\n').find((l) => /406|PRECONDITION/.test(l)) ?? String(e).slice(-500));
    if (typeof again === 'string') expect.fail(`the Celery worker could not start: ${again}`);
    await again.stop();
  });
});
