import type { S3Client } from '@aws-sdk/client-s3';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { Type } from '@sinclair/typebox';
import { createWorker, defineTask, silentLogger, taskQueueArguments, type Worker } from '@taskbus/runtime';
import { createPusherHandlers } from '@taskbus-example/pusher';
import { expect } from 'chai';
import { bindPusherHandlers, type PusherHandlers } from 'pusher-bindings';
import { startLocalS3, type LocalS3 } from '../../scripts/local-s3.js';
import { delayQueueName } from '../../runtime/src/deadletter.js';
import { deleteQueues, queueDepth, rawBroker, uniqueQueue, waitFor } from '../support/broker.js';
import { taskbus } from '../support/cli.js';
import { checkCeleryVersion, interopTargets, runPython, type InteropTarget } from '../support/python.js';
import { clientFor, readObject } from '../support/s3.js';

interface Outcome {
  readonly celery: string;
  readonly id: string;
  readonly ok: boolean;
  readonly value?: { bucket: string; key: string; etag: string };
  readonly type?: string;
  readonly module?: string;
  readonly message?: string;
  readonly elapsed?: number;
}

/** A task whose handler always fails, with a short retry, to see what a retried and dead-lettered copy keeps. */
const flaky = (queue: string) =>
  defineTask<[key: string], Record<string, never>, null>({
    name: 'interop.flaky',
    queue,
    args: { key: Type.String() },
    result: Type.Null(),
    retry: { maxAttempts: 2, initialDelayMs: 200, maxDelayMs: 200 },
  });

/**
 * Who declares a quorum queue first. `celery`: the fleet owns it (quorum, only x-queue-type) and the TypeScript
 * worker joins it as it is. `typescript`: the worker creates it with taskbus's arguments (delivery limit,
 * dead-lettering), and the Celery caller declares it with the same ones, as it must (RabbitMQ refuses a
 * declaration with other arguments: 406). A classic queue is argument-free either way.
 */
type Owner = 'celery' | 'typescript';

// Generated per Python side: each Celery release, on each queue type it can run on, and per owner of a quorum queue.
function suites(target: InteropTarget, owner: Owner): void {
  const title = target.queueType === 'quorum' ? `${target.title} ${owner === 'celery' ? 'Celery' : 'TypeScript'} declared` : target.title;
  describe(`Python Celery caller (${title}) -> TypeScript pusher worker (AsyncResult.get over rpc://)`, function () {
    this.timeout(60_000);
    const queue = uniqueQueue('ts-pusher');
    let localS3: LocalS3;
    let s3: S3Client;
    let worker: Worker;
    /** The stamps the flaky handler saw, per attempt. */
    const flakyStamps: Readonly<Record<string, unknown>>[] = [];

    async function call(scenario: string): Promise<Outcome> {
      const env = { INTEROP_QUEUE_TYPE: target.queueType, ...(owner === 'typescript' ? { INTEROP_QUEUE_ARGS: JSON.stringify({ [queue]: taskQueueArguments(queue, target.queueType) }) } : {}) };
      const run = await runPython('caller.py', [queue, scenario], target.celery, env);
      expect(run.code, run.stderr).to.equal(0);
      const outcome = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Outcome;
      expect(outcome.celery, 'the Celery that ran the caller').to.match(target.celery.expect);
      return outcome;
    }

    const exists = (key: string) => s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: key })).then(() => true, () => false);

    before(async () => {
      await checkCeleryVersion(target.celery);
      // A quorum fleet owns its queues: Celery declares this one (quorum, topic exchange) before TypeScript joins it.
      if (target.queueType === 'quorum' && owner === 'celery') await call('declare');
      localS3 = await startLocalS3(['backups']);
      s3 = clientFor(localS3);
      const impl = createPusherHandlers(s3, 'backups');
      // Keys under fail/ make the handler throw, to see how a TypeScript failure reaches Python.
      const handlers: PusherHandlers = {
        sendToS3: (key, content, ctx) => (key.startsWith('fail/') ? Promise.reject(new RangeError(`refusing ${key}`)) : impl.sendToS3(key, content, ctx)),
        sendToS3V2: (key, content, meta, ctx) => impl.sendToS3V2(key, content, meta, ctx),
      };
      worker = createWorker({ queues: [queue], queueType: target.queueType, logger: silentLogger });
      bindPusherHandlers(worker, handlers);
      // Always fails, retried once after 200 ms, then dead-lettered: to see what a retried copy keeps.
      worker.register(flaky(queue), (_args, _kwargs, ctx) => {
        flakyStamps.push(ctx.message.stamps);
        return Promise.reject(new RangeError('flaky'));
      });
      await worker.start();
    });
    after(async () => {
      await worker?.stop();
      // The delay queues of the retries above (the pusher contract's 1-8 s, flaky's 200 ms) too.
      await deleteQueues(queue, ...[200, 1000, 2000, 4000, 8000].map((ms) => delayQueueName(queue, ms)));
      s3?.destroy();
      await localS3?.close();
    });

    it("the seed's hand-written bindings.py reaches the TypeScript pusher, and get() returns its result", async () => {
      const r = await call('seed');
      expect(r).to.deep.include({ ok: true });
      expect(r.value).to.include({ bucket: 'backups', key: 'seed/file.json' });
      expect((await readObject(s3, 'backups', 'seed/file.json')).body).to.equal('{"from": "python"}');
    });

    it('the generated Python bindings call v1', async () => {
      const r = await call('v1');
      expect(r.value).to.include({ key: 'py/v1.json' });
      expect((await readObject(s3, 'backups', 'py/v1.json')).body).to.equal('from python v1');
    });

    it('arguments passed by name (kwargs) bind to the positional parameters, as in Python', async () => {
      const r = await call('by-name');
      expect(r.value).to.include({ key: 'py/by-name.json' });
      expect((await readObject(s3, 'backups', 'py/by-name.json')).body).to.equal('by name');
    });

    it("the generated Python delegate calls v2 with v2's arguments", async () => {
      const r = await call('delegate-v2');
      expect(r.value).to.include({ key: 'py/v2.json' });
      const obj = await readObject(s3, 'backups', 'py/v2.json');
      expect(obj).to.include({ body: 'from python v2', contentType: 'application/json' });
    });

    it('a handler failure raises in Python with the error type and message', async () => {
      expect(await call('failure')).to.deep.include({ ok: false, type: 'RangeError', message: 'refusing fail/boom.json' });
    });

    it('arguments that break the contract raise TypeError in Python, and nothing runs', async () => {
      const r = await call('invalid-args');
      expect(r).to.deep.include({ ok: false, type: 'TypeError' });
      expect(r.message).to.match(/invalid arguments for task pusher\.send_to_s3.*\n.*key: Expected string/);
      expect(await exists('123')).to.equal(false);
    });

    it('an unknown task name raises NotRegistered, as a Python worker would', async () => {
      expect(await call('unknown')).to.deep.include({ ok: false, type: 'NotRegistered', module: 'celery.exceptions' });
    });

    it('an expiry in the past is not run: TaskRevokedError', async () => {
      expect(await call('expired')).to.deep.include({ ok: false, type: 'TaskRevokedError' });
      expect(await exists('py/expired.json')).to.equal(false);
    });

    it('taskbus call reaches the TypeScript worker too and prints its result', async () => {
      const run = await taskbus('.', 'call', 'pusher.send_to_s3', '["cli/x.json", "from the shell"]', '--queue', queue, '--wait');
      expect(run.code, run.stderr).to.equal(0);
      expect(JSON.parse(run.stdout.trim().split('\n')[1]!)).to.include({ bucket: 'backups', key: 'cli/x.json' });
      expect((await readObject(s3, 'backups', 'cli/x.json')).body).to.equal('from the shell');
    });

    it('UUID and Decimal arguments reach string parameters as the strings Celery 5.2 sends', async () => {
      const r = await call('typed');
      expect(r.value).to.include({ key: '12345678-1234-5678-1234-567812345678' });
      expect((await readObject(s3, 'backups', '12345678-1234-5678-1234-567812345678')).body).to.equal('1.10');
    });

    if (target.celery.stamping) {
      it('a stamped task that fails is retried and dead-lettered with its Celery 5.3+ headers intact, readable by py-amqp', async () => {
        const sent = await call('stamped');
        expect(sent).to.deep.include({ ok: false, type: 'RangeError', message: 'flaky' });
        // The handler sees them on the first attempt and on the retry, which is a copy taskbus made.
        const stamps = { tenant: 'acme', budget: 300, route: [1, 200] };
        expect(flakyStamps).to.deep.equal([stamps, stamps]);
        // Everything dead-lettered so far (earlier tests' too), read by py-amqp: one undecodable copy fails the run.
        // The failure reply goes out before the dead-letter copy is confirmed, so read until the copy is there.
        const dlq = async () => {
          const run = await runPython('caller.py', [queue, 'dlq'], target.celery);
          expect(run.code, run.stderr).to.equal(0);
          return (JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { headers: Record<string, unknown>[] }).headers;
        };
        const headers = await waitFor(`the dead-letter copy of ${sent.id}`, async () => (await dlq()).find((h) => h['id'] === sent.id));
        expect(headers?.['stamped_headers']).to.have.members(['tenant', 'route', 'budget']); // from a Python set: any order
        expect(headers).to.deep.include({
          stamps: { tenant: 'acme', budget: 300, route: [1, 200] },
          replaced_task_nesting: 0,
          ignore_result: false,
          retries: 1,
          'x-taskbus-reason': 'failed',
        });
      });
    }

    const viaNative = target.queueType === 'quorum' ? ', waiting in the broker (native delayed delivery)' : '';
    it(`countdown/eta is honoured${viaNative}`, async () => {
      const pending = call('countdown');
      pending.catch(() => undefined); // awaited below; a failure here must not also be unhandled
      if (viaNative) {
        // 3 s is 2 s in level 1 then 1 s in level 0: the task must be seen waiting there, not in a worker.
        const raw = await rawBroker();
        try {
          // Within the caller's start-up (Python, Celery 5.6) plus the 2 s the task waits there.
          await waitFor('the task in delay level celery_delayed_1', async () => (((await queueDepth(raw, 'celery_delayed_1')) ?? 0) > 0 ? true : undefined), 15_000);
        } finally {
          await raw.close();
        }
      }
      const r = await pending;
      expect(r, JSON.stringify(r)).to.deep.include({ ok: true });
      expect(r.value).to.include({ key: 'py/later.json' });
      expect(r.elapsed).to.be.greaterThanOrEqual(2.9);
    });
  });
}

for (const target of interopTargets()) {
  for (const owner of target.queueType === 'quorum' ? (['celery', 'typescript'] as const) : (['celery'] as const)) suites(target, owner);
}
