import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { connectClient, defineTask, RemoteTaskError, ResultUnavailableError, type TaskClient } from '@taskbus/runtime';
import { expect } from 'chai';
import { createPusherClient, type PusherClient } from 'pusher-bindings';
import { deleteQueues, uniqueQueue, waitFor } from '../support/broker.js';
import { taskbus } from '../support/cli.js';
import { checkCeleryVersion, interopTargets, startCeleryWorker, type InteropTarget, type PythonWorker } from '../support/python.js';

const Report = Type.Record(Type.String(), Type.Unknown());
const inspect = (queue: string) =>
  defineTask<[a: string, b: number], { flag?: boolean }, Record<string, unknown>>({
    name: 'interop.inspect',
    queue,
    args: { a: Type.String(), b: Type.Integer() },
    kwargs: Type.Object({ flag: Type.Optional(Type.Boolean()) }),
    result: Report,
  });

// Generated per Python side: each Celery release, on each queue type it can run on.
function suites(target: InteropTarget): void {
  describe(`TypeScript caller -> Python Celery worker (${target.title}, rpc results)`, function () {
    this.timeout(60_000);
    // The seed's set-up (a Python worker started with -Q <queue>), on a queue of this test's own: the
    // bindings' calls are routed to it with the queue option.
    const queue = uniqueQueue('ts-py');
    const out = mkdtempSync(join(tmpdir(), 'taskbus-interop-'));
    let py: PythonWorker;
    let client: TaskClient;
    let pusher: PusherClient;

    before(async () => {
      await checkCeleryVersion(target.celery);
      py = await startCeleryWorker(queue, out, target);
      client = await connectClient();
      pusher = createPusherClient(client);
    });
    after(async () => {
      await client?.close();
      await py?.stop();
      await deleteQueues(queue);
      rmSync(out, { recursive: true, force: true });
    });

    it('runs v1 from the generated bindings and returns the Python result, checked against the contract', async () => {
      const sent = await pusher.sendToS3('ts/v1.json', 'hello from ts', { queue });
      expect(sent.queue).to.equal(queue);
      const result = await sent.result({ timeoutMs: 20_000 });
      expect(result).to.deep.equal({ bucket: 'python', key: 'ts/v1.json', etag: createHash('md5').update('hello from ts').digest('hex') });
      expect(readFileSync(join(out, 'ts/v1.json'), 'utf8')).to.equal('hello from ts');
    });

    it('runs v2 through the delegate with its third argument', async () => {
      const sent = await pusher.delegateSendToS3(2, 'ts/v2.json', 'body', { contentType: 'text/csv' }, { queue });
      expect(await sent.result({ timeoutMs: 20_000 })).to.include({ key: 'ts/v2.json' });
      expect(readFileSync(join(out, 'ts/v2.json'), 'utf8')).to.equal('body|text/csv');
    });

    it('maps every call option onto what the Celery worker sees (ids, eta, expires, retries, time limits, priority, kwargs)', async () => {
      const started = Date.now();
      const sent = await client.send(inspect(queue), ['x', 7], { flag: true }, {
        taskId: 'custom-id-1',
        countdown: 1,
        expires: 120,
        retries: 200,
        timeLimit: 300,
        softTimeLimit: 240,
        priority: 5,
      });
      const seen = await sent.result({ timeoutMs: 20_000 });
      expect(Date.now() - started).to.be.greaterThanOrEqual(900);
      expect(seen).to.deep.include({ args: ['x', 7], kwargs: { flag: true }, id: 'custom-id-1', retries: 200, timelimit: [300, 240], priority: 5, root_id: 'custom-id-1' });
      expect(Date.parse(String(seen['eta']))).to.be.within(started + 900, started + 5_000);
      expect(Date.parse(String(seen['expires']))).to.be.within(started + 110_000, started + 130_000);
    });

    // On quorum queues behind a topic exchange taskbus sends a countdown as Celery 5.5+ does: through the delay levels,
    // so it arrives with the 28-bit delay prefix on its routing key. On classic queues it goes straight to the queue.
    const viaNative = target.queueType === 'quorum' ? ' through native delayed delivery' : '';
    it(`a countdown reaches the Python worker${viaNative} no earlier than asked`, async () => {
      const started = Date.now();
      const seen = await (await client.send(inspect(queue), ['later', 3], {}, { countdown: 3 })).result({ timeoutMs: 20_000 });
      expect(Date.now() - started).to.be.greaterThanOrEqual(2_900);
      const key = String(seen['routing_key']);
      if (!viaNative) return expect(key).to.equal(queue);
      expect(key).to.match(new RegExp(`^(?:[01]\\.){28}${queue}$`));
      // Whole seconds left when it was routed, rounded down as Celery does: 3, or 2 if a second boundary passed.
      expect(parseInt(key.split('.').slice(0, 28).join(''), 2)).to.be.within(2, 3);
    });

    it('ignoreResult: the task runs, and result() says at once that no result will come', async () => {
      const sent = await client.send(inspect(queue), ['quiet', 1], {}, { ignoreResult: true });
      await waitFor('the task to run', () => (existsSync(join(out, 'inspect', sent.id)) ? true : undefined));
      const err = await sent.result({ timeoutMs: 60_000 }).then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(ResultUnavailableError);
      expect(err).to.include({ taskId: sent.id, reason: 'ignored' });
    });

    it('a Python exception arrives as a RemoteTaskError with its type and message', async () => {
      const failing = defineTask<[message: string], Record<string, never>, null>({ name: 'interop.fail', queue, args: { message: Type.String() }, result: Type.Null() });
      const err = await (await client.send(failing, ['disk on fire'], {})).result({ timeoutMs: 20_000 }).then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(RemoteTaskError);
      expect(err).to.include({ excType: 'ValueError', excMessage: 'disk on fire', code: 'E_TASK_FAILED' });
      expect((err as RemoteTaskError).remoteTraceback).to.match(/ValueError: disk on fire/);
    });

    it('UUID, Decimal and datetime in a Python result arrive as the strings Celery 5.2 writes for them', async () => {
      const typed = defineTask<[], Record<string, never>, Record<string, unknown>>({ name: 'interop.typed', queue, args: {}, result: Report });
      const result = await (await client.send(typed, [], {})).result({ timeoutMs: 20_000 });
      expect(result).to.deep.include({ id: '12345678-1234-5678-1234-567812345678', amount: '9.99' });
      expect(Date.parse(String(result['at']))).to.equal(Date.parse('2030-01-02T03:04:05.678Z'));
    });

    it('an unknown task name comes back as NotRegistered, as from any Celery worker', async () => {
      const ghost = defineTask<[], Record<string, never>, null>({ name: 'interop.no_such_task', queue, args: {}, result: Type.Null() });
      const err = await (await client.send(ghost, [], {})).result({ timeoutMs: 20_000 }).then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(RemoteTaskError);
      expect(err).to.include({ excType: 'NotRegistered' });
    });

    it('an expiry in the past is not run by the Python worker: REVOKED', async () => {
      const sent = await client.send(inspect(queue), ['late', 1], {}, { expires: new Date(Date.now() - 5_000) });
      const err = await sent.result({ timeoutMs: 20_000 }).then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(RemoteTaskError);
      expect(err).to.include({ state: 'REVOKED', code: 'E_TASK_REVOKED' });
      expect(existsSync(join(out, 'inspect', sent.id))).to.equal(false);
    });
  });

  describe(`taskbus call against a Python Celery worker (${target.title})`, function () {
    this.timeout(60_000);
    const queue = uniqueQueue('py-call');
    const out = mkdtempSync(join(tmpdir(), 'taskbus-call-'));
    let py: PythonWorker;

    before(async () => (py = await startCeleryWorker(queue, out, target)));
    after(async () => {
      await py?.stop();
      await deleteQueues(queue);
      rmSync(out, { recursive: true, force: true });
    });

    it('sends a task with args and kwargs, prints its id and, with --wait, the result as JSON', async () => {
      const run = await taskbus('.', 'call', 'interop.inspect', '["a", 2]', '--kwargs', '{"flag": true}', '--queue', queue, '--wait', '--timeout', '20');
      expect(run.code, run.stderr).to.equal(0);
      const [id, json] = run.stdout.trim().split('\n');
      expect(id).to.match(/^[0-9a-f-]{36}$/);
      expect(JSON.parse(json!)).to.deep.include({ args: ['a', 2], kwargs: { flag: true }, id });
    });

    it('without --wait, prints the id and asks for no result', async () => {
      const run = await taskbus('.', 'call', 'interop.inspect', '["quiet", 0]', '--queue', queue);
      expect(run.code, run.stderr).to.equal(0);
      const id = run.stdout.trim();
      await waitFor('the task to run', () => (existsSync(join(out, 'inspect', id)) ? true : undefined));
    });

    it('a failed task exits 1 and names the remote exception type', async () => {
      const run = await taskbus('.', 'call', 'interop.fail', '["disk on fire"]', '--queue', queue, '--wait');
      expect(run.code).to.equal(1);
      expect(run.stderr).to.match(/^taskbus: task interop\.fail \(.+\) failed: ValueError: disk on fire$/m);
    });

    it('a task nobody answers exits 1 with a timeout', async () => {
      const idle = uniqueQueue('py-call-idle');
      const run = await taskbus('.', 'call', 'interop.inspect', '[]', '--queue', idle, '--wait', '--timeout', '1');
      await deleteQueues(idle);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.match(/no result for task interop\.inspect .* within 1000 ms/);
    });

    it('bad JSON arguments are a usage error (exit 2), and nothing is sent', async () => {
      const run = await taskbus('.', 'call', 'interop.inspect', '{"not": "an array"}', '--queue', queue);
      expect(run.code).to.equal(2);
      expect(run.stderr).to.match(/args must be a JSON array/);
    });
  });
}

for (const target of interopTargets()) suites(target);
