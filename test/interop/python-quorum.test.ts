import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadContracts } from '@taskbus/cli/files';
import { generate } from '@taskbus/codegen';
import { createWorker, silentLogger, taskQueueArguments, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { declareOutcome, deleteQueues, rawBroker, uniqueQueue } from '../support/broker.js';
import { runProcess } from '../support/process.js';
import { celeryVersions, PY_DIR, PYTHON } from '../support/python.js';

/** A quorum contract on a queue of this run's own. */
const contract = (queue: string) => `import { Type } from '@sinclair/typebox';

export default {
  service: 'ledger',
  version: '1.0.0',
  queue: '${queue}',
  queueType: 'quorum',
  tasks: {
    store: {
      versions: {
        1: { name: 'ledger.store', args: { key: Type.String(), content: Type.String() }, result: Type.Object({ key: Type.String(), size: Type.Integer() }) },
        2: { name: 'ledger.store_v2', args: { key: Type.String(), content: Type.String(), tag: Type.String() }, result: Type.Object({ key: Type.String(), size: Type.Integer() }) },
      },
    },
  },
};
`;

interface Outcome {
  readonly ok: boolean;
  readonly value?: unknown;
  readonly type?: string;
  readonly message?: string;
}

interface Handlers {
  store(key: string, content: string): { key: string; size: number };
  storeV2(key: string, content: string, tag: string): { key: string; size: number };
}

describe("a quorum contract's generated Python bindings, calling a TypeScript worker on the quorum queue taskbus created", function () {
  this.timeout(180_000);
  const queue = uniqueQueue('py-quorum');
  const received: unknown[][] = [];
  let dir: string;
  let worker: Worker;
  let raw: Awaited<ReturnType<typeof rawBroker>>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'taskbus-py-quorum-'));
    mkdirSync(join(dir, 'contracts'));
    writeFileSync(join(dir, 'contracts/ledger.ts'), contract(queue));
    for (const [path, text] of generate(await loadContracts(join(dir, 'contracts')))) {
      mkdirSync(dirname(join(dir, 'out', path)), { recursive: true });
      writeFileSync(join(dir, 'out', path), text);
    }
    // The TypeScript bindings resolve @taskbus/runtime and TypeBox as they would once installed next to them.
    symlinkSync(resolve('node_modules'), join(dir, 'out/node_modules'));
    const bindings = (await import(join(dir, 'out/ledger-bindings/src/worker.ts'))) as { bindLedgerHandlers(w: Worker, h: Handlers): void };

    // The worker creates the queue from the bindings' queueType: quorum, with the runtime's arguments.
    worker = createWorker({ logger: silentLogger });
    bindings.bindLedgerHandlers(worker, {
      store: (key, content) => (received.push(['store', key, content]), { key, size: content.length }),
      storeV2: (key, content, tag) => (received.push(['storeV2', key, content, tag]), { key, size: content.length }),
    });
    await worker.start();
    raw = await rawBroker();
  });
  after(async () => {
    await worker?.stop();
    await raw?.close();
    await deleteQueues(queue);
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => void received.splice(0));

  it('taskbus created the queue as a quorum queue with taskQueueArguments (a classic declaration of it is refused)', async () => {
    expect(await declareOutcome(raw, (ch) => ch.assertQueue(queue, { durable: true, arguments: taskQueueArguments(queue, 'quorum') }))).to.equal('ok');
    expect(await declareOutcome(raw, (ch) => ch.assertQueue(queue, { durable: true }))).to.match(/406 \(PRECONDITION-FAILED\).*inequivalent arg/);
  });

  for (const celery of celeryVersions) {
    describe(celery.name, () => {
      let extra: readonly string[] = [];
      // The vendored 5.6.3 is extracted on first use; a missing bundle fails here, naming the file.
      before(() => void (extra = celery.pythonPath()));

      const call = async (scenario: string) => {
        const path = [join(dir, 'out/ledger-bindings/python'), ...extra].join(':');
        const run = await runProcess(PYTHON, [join(PY_DIR, 'quorum_caller.py'), queue, scenario], { env: { PYTHONPATH: path } });
        expect(run.code, `${run.stdout}\n${run.stderr}`).to.equal(0);
        const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { celery: string; report: Record<string, Outcome> };
        expect(out.celery, 'the Celery that ran the caller').to.match(celery.expect);
        return out.report;
      };

      it('the delegates publish without a 406, and the worker runs each version', async () => {
        expect(await call('delegates')).to.deep.equal({
          'delegate v1': { ok: true, value: { key: 'q/delegate-v1', size: 3 } },
          'delegate v2': { ok: true, value: { key: 'q/delegate-v2', size: 3 } },
        });
        expect(received).to.deep.equal([
          ['store', 'q/delegate-v1', 'one'],
          ['storeV2', 'q/delegate-v2', 'two', 't'],
        ]);
      });

      it('apply_async with the queue by name publishes without a 406, and the worker runs it', async () => {
        expect(await call('apply_async')).to.deep.equal({ 'apply_async by name': { ok: true, value: { key: 'q/by-name', size: 5 } } });
        expect(received).to.deep.equal([['store', 'q/by-name', 'three']]);
      });

      it("with QUEUES in the app's task_queues, a plain send_task by queue name publishes without a 406", async () => {
        expect(await call('task_queues')).to.deep.equal({ 'send_task by name': { ok: true, value: { key: 'q/send-task', size: 4 } } });
        expect(received).to.deep.equal([['store', 'q/send-task', 'four']]);
      });

      it('without the bindings, Celery declares the queue classic and the broker refuses it (406): what the bindings prevent', async () => {
        const report = await call('without-bindings');
        expect(report['plain apply_async']).to.include({ ok: false });
        // Celery declares the exchange first: direct where taskbus made it topic.
        expect(report['plain apply_async']!.message).to.match(/\(406\) PRECONDITION_FAILED - inequivalent arg 'type' for exchange/);
        expect(received).to.deep.equal([]);
      });
    });
  }

  // A suite of its own: mocha runs a suite's tests before its nested suites.
  describe('afterwards', () => {
    it('the queue is still the quorum queue taskbus created', async () => {
      expect(await declareOutcome(raw, (ch) => ch.assertQueue(queue, { durable: true, arguments: taskQueueArguments(queue, 'quorum') }))).to.equal('ok');
    });
  });
});
