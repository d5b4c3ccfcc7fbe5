import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { expect } from 'chai';
import ts from 'typescript';
import { loadContracts } from '@taskbus/cli/files';
import { generate } from '@taskbus/codegen';
import { taskExchangeType, taskQueueArguments, type TaskSpec } from '@taskbus/runtime';
import { runProcess } from '../../support/process.js';
import { PYTHON } from '../../support/python.js';

// A quorum contract (test/golden/quorum-queues) gives Python bindings that declare each queue exactly as the
// runtime creates it, and route every send to that declaration; its TypeScript package compiles.
const CONTRACTS = new URL('../../golden/quorum-queues/contracts/', import.meta.url).pathname;

interface DeclaredQueue {
  readonly name: string;
  readonly exchange: string;
  readonly exchangeType: string;
  readonly exchangeDurable: boolean;
  readonly routingKey: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly arguments: Record<string, unknown>;
}

interface PythonView {
  readonly queues: DeclaredQueue[];
  /** What each send handed to Celery's send_task as `queue`: a Queue of QUEUES by name, or what was given. */
  readonly sent: Record<string, unknown>;
  /** What Celery's own router makes of the queue name in an app with `task_queues = QUEUES`. */
  readonly configured: DeclaredQueue;
}

const INSPECT = `
import json
from celery import Celery
from kombu import Queue

app = Celery('inspect', broker='amqp://nobody@127.0.0.1:1//')
app.set_default()
import ledger_bindings as m

def view(q):
    return {'name': q.name, 'exchange': q.exchange.name, 'exchangeType': q.exchange.type, 'exchangeDurable': q.exchange.durable,
            'routingKey': q.routing_key, 'durable': q.durable, 'autoDelete': q.auto_delete, 'arguments': q.queue_arguments}

sent = {}
last = []
# Celery's Task.apply_async hands the options to app.send_task: record the queue instead of publishing.
app.send_task = lambda name, args=None, kwargs=None, **options: last.append(options.get('queue'))

def send(label, call):
    call()
    q = last.pop()
    sent[label] = {'Queue': q.name, 'ofQUEUES': any(q is x for x in m.QUEUES)} if isinstance(q, Queue) else q

send('delegate v2', lambda: m.delegate_record('acct', 5, version=2, currency='EUR'))
send('delegate v1 with kwargs', lambda: m.delegate_record('acct', 5, kwargs={'memo': 'x'}))
send('delegate on the batch queue', lambda: m.delegate_reconcile('2026-01-01'))
send('apply_async by name', lambda: m.record_v2.apply_async(('acct', 5, 'EUR'), queue='ledger'))
send('apply_async by name, batch', lambda: m.reconcile.apply_async(('2026-01-01',), queue='ledger.batch'))
send('apply_async to another queue', lambda: m.record_v2.apply_async(('acct', 5, 'EUR'), queue='elsewhere'))
send('delay', lambda: m.record_v2.delay('acct', 5, 'EUR'))

configured = Celery('configured', broker='amqp://nobody@127.0.0.1:1//')
configured.conf.task_queues = m.QUEUES
routed = configured.amqp.router.route({'queue': 'ledger'}, 'ledger.record_v2')['queue']
print(json.dumps({'queues': [view(q) for q in m.QUEUES], 'sent': sent, 'configured': view(routed)}))
`;

describe('codegen: a quorum contract', function () {
  this.timeout(60_000);
  let dir: string;
  let view: PythonView;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'taskbus-quorum-'));
    for (const [path, text] of generate(await loadContracts(CONTRACTS))) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    // The package resolves @taskbus/runtime and TypeBox as it would once installed next to them.
    symlinkSync(resolve('node_modules'), join(dir, 'node_modules'));
    const python = join(dir, 'ledger-bindings/python');
    const run = await runProcess(PYTHON, ['-c', INSPECT], { env: { PYTHONPATH: python } });
    expect(run.code, run.stderr).to.equal(0);
    view = JSON.parse(run.stdout) as PythonView;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const asTaskbusCreatesIt = (queue: string): DeclaredQueue => ({
    name: queue,
    exchange: queue,
    exchangeType: taskExchangeType('quorum'),
    exchangeDurable: true,
    routingKey: queue,
    durable: true,
    autoDelete: false,
    arguments: taskQueueArguments(queue, 'quorum'),
  });

  it("Python QUEUES declare every queue of the contract with the runtime's taskQueueArguments and exchange type", () => {
    expect(view.queues).to.deep.equal(['ledger', 'ledger.batch'].map(asTaskbusCreatesIt));
    // The arguments are the quorum ones, not an empty table that would also "match" a classic runtime.
    expect(view.queues[0]!.arguments).to.include({ 'x-queue-type': 'quorum', 'x-dead-letter-routing-key': 'ledger.dlq' });
  });

  it('delegates and apply_async by queue name send the Queue of QUEUES, so Celery declares it with its arguments', () => {
    expect(view.sent).to.deep.equal({
      'delegate v2': { Queue: 'ledger', ofQUEUES: true },
      'delegate v1 with kwargs': { Queue: 'ledger', ofQUEUES: true },
      'delegate on the batch queue': { Queue: 'ledger.batch', ofQUEUES: true },
      'apply_async by name': { Queue: 'ledger', ofQUEUES: true },
      'apply_async by name, batch': { Queue: 'ledger.batch', ofQUEUES: true },
      // Not a queue of the contract: left to the caller's Celery configuration, as with classic bindings.
      'apply_async to another queue': 'elsewhere',
      delay: null,
    });
  });

  it("with QUEUES in a Celery app's task_queues, Celery itself routes the queue name to that declaration", () => {
    expect(view.configured).to.deep.equal(asTaskbusCreatesIt('ledger'));
  });

  it('the TypeScript package compiles with its own strict tsconfig, and its task specs carry the queue type', async () => {
    const pkg = join(dir, 'ledger-bindings');
    const config = ts.getParsedCommandLineOfConfigFile(join(pkg, 'tsconfig.json'), { noEmit: true }, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
    const program = ts.createProgram(config!.fileNames, config!.options);
    const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(problems).to.deep.equal([]);
    const tasks = (await import(join(pkg, 'src/tasks.ts'))) as Record<string, TaskSpec<unknown[], object, unknown>>;
    expect(['recordV1Task', 'recordV2Task', 'reconcileV1Task'].map((t) => [tasks[t]!.queue, tasks[t]!.queueType])).to.deep.equal([
      ['ledger', 'quorum'],
      ['ledger', 'quorum'],
      ['ledger.batch', 'quorum'],
    ]);
  });
});

describe('codegen reads the queue arguments from the runtime without loading AMQP', () => {
  it('@taskbus/runtime/queues reaches no module outside the runtime (no amqplib)', () => {
    const seen = new Set<string>();
    const outside: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
        if (fileName.startsWith('.')) visit(resolve(dirname(file), fileName));
        else outside.push(fileName);
      }
    };
    visit(fileURLToPath(import.meta.resolve('@taskbus/runtime/queues')));
    expect(seen.size).to.be.greaterThan(1);
    expect(outside).to.deep.equal([]);
  });
});
