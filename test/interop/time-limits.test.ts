import { tmpdir } from 'node:os';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, defineTask, RemoteTaskError, silentLogger, untypedTask, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, uniqueQueue } from '../support/broker.js';
import { celeryVersions, checkCeleryVersion, runPython, startCeleryWorker } from '../support/python.js';

interface Outcome {
  readonly celery: string;
  readonly ok: boolean;
  readonly value?: string;
  readonly type?: string;
  readonly module?: string;
  readonly message?: string;
  /** isinstance of celery.exceptions.TimeLimitExceeded / SoftTimeLimitExceeded. */
  readonly hard?: boolean;
  readonly soft?: boolean;
  readonly elapsed: number;
}

for (const celery of celeryVersions) {
  describe(`Python ${celery.name} caller with time limits -> TypeScript worker`, function () {
    this.timeout(60_000);
    const queue = uniqueQueue('ts-limits');
    let worker: Worker;
    const late: string[] = [];

    async function call(scenario: string): Promise<Outcome> {
      const run = await runPython('limits_caller.py', [queue, scenario], celery);
      expect(run.code, run.stderr).to.equal(0);
      const outcome = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Outcome;
      expect(outcome.celery).to.match(celery.expect);
      return outcome;
    }

    before(async () => {
      await checkCeleryVersion(celery);
      worker = createWorker({ logger: silentLogger, prefetch: 1 });
      const task = defineTask<[mode: string, ms: number], Record<string, never>, string>({
        name: 'limits.work',
        queue,
        args: { mode: Type.String(), ms: Type.Integer() },
        result: Type.String(),
      });
      worker.register(task, async ([mode, ms], _kw, ctx) => {
        const signal = mode === 'ignore' ? new AbortController().signal : ctx.signal;
        try {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(resolve, ms);
            signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
          });
        } catch (e) {
          if (mode === 'catch') return 'cleaned up';
          throw e;
        }
        if (mode === 'ignore') late.push(ctx.id);
        return 'finished';
      });
      await worker.start();
    });
    after(async () => {
      await worker.stop();
      await deleteQueues(queue);
    });

    it('time_limit: AsyncResult.get() raises TimeLimitExceeded after the limit; the late result never reaches it', async () => {
      const o = await call('hard');
      expect(o).to.include({ ok: false, type: 'TimeLimitExceeded', hard: true, message: 'TimeLimitExceeded(1,)' });
      expect(o.elapsed).to.be.within(0.9, 2.9);
      // The handler kept running and finished later; by then the caller had its answer, and the worker served on.
      expect(late).to.have.length(0);
      expect((await call('soft-catch')).ok).to.equal(true);
    });

    it('soft_time_limit (a float) aborts the signal: caught and returned, get() has the result', async () => {
      const o = await call('soft-catch');
      expect(o).to.include({ ok: true, value: 'cleaned up' });
      expect(o.elapsed).to.be.within(0.4, 3);
    });

    it('soft_time_limit rethrown: get() raises SoftTimeLimitExceeded', async () => {
      const o = await call('soft-raise');
      expect(o).to.include({ ok: false, type: 'SoftTimeLimitExceeded', soft: true });
    });
  });
}

for (const celery of celeryVersions) {
  describe(`TypeScript caller with time limits -> Python ${celery.name} worker (prefork)`, function () {
    this.timeout(60_000);
    const queue = uniqueQueue('py-limits');
    let worker: { stop(): Promise<void> } | undefined;
    let client: TaskClient | undefined;
    const task = untypedTask('limits.py_sleep', queue);

    before(async () => {
      await checkCeleryVersion(celery);
      // The prefork pool: the solo pool ignores time limits.
      worker = await startCeleryWorker(queue, tmpdir(), { celery, app: 'limits_app', pool: 'prefork' });
      client = await connectClient({ logger: silentLogger });
    });
    after(async () => {
      await worker?.stop();
      await client?.close();
      await deleteQueues(queue);
    });

    it('timeLimit: the TypeScript caller gets the same TimeLimitExceeded a TypeScript worker sends', async () => {
      const sent = await client!.send(task, [5], {}, { timeLimit: 1 });
      const err = await sent.result({ timeoutMs: 20_000 }).then(() => null, (e: unknown) => e);
      expect(err).to.be.instanceOf(RemoteTaskError);
      expect(err).to.include({ excType: 'TimeLimitExceeded', excModule: 'billiard.exceptions', excMessage: '1' });
    });

    it('a fractional softTimeLimit (an AMQP double) is honoured by Celery', async () => {
      const sent = await client!.send(task, [5], {}, { softTimeLimit: 0.5, timeLimit: 4 });
      expect(await sent.result({ timeoutMs: 20_000 })).to.equal('soft limit caught');
    });
  });
}
