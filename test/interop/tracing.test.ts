import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, createTraceState, trace } from '@opentelemetry/api';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, currentTraceId, defineTask, silentLogger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, uniqueQueue } from '../support/broker.js';
import { celeryVersions, checkCeleryVersion, startCeleryWorker, type CeleryVersion, type PythonWorker } from '../support/python.js';
import { installTracing, type TestTracing } from '../support/tracing.js';

/** What test/interop/py/pusher_app.py's relay saw on its request and wrote into the message it sent on. */
interface RelayReport {
  readonly traceparent: string | null;
  readonly tracestate: string | null;
  readonly run_span?: string;
  readonly sent: { readonly traceparent?: string; readonly tracestate?: string };
  readonly next_id: string;
}

const relay = (queue: string) =>
  defineTask<[queue: string, task: string, n: number], Record<string, never>, RelayReport>({
    name: 'interop.relay',
    queue,
    args: { queue: Type.String(), task: Type.String(), n: Type.Integer() },
    result: Type.Unsafe<RelayReport>(Type.Object({}, { additionalProperties: true })),
  });
const traced = (queue: string) => defineTask<[n: number], Record<string, never>, number>({ name: 'interop.traced', queue, args: { n: Type.Integer() }, result: Type.Integer() });

// The real opentelemetry-instrumentation-celery cannot be installed here (no PyPI, not in Debian): the Python task
// does by hand what it does, reading and writing the same request attributes and message headers.
function suite(celery: CeleryVersion): void {
  describe(`a trace across TypeScript -> Python Celery (${celery.name}) -> TypeScript`, function () {
    this.timeout(60_000);
    const pyQueue = uniqueQueue('otel-py');
    const tsQueue = uniqueQueue('otel-ts');
    const out = mkdtempSync(join(tmpdir(), 'taskbus-otel-'));
    let tracing: TestTracing;
    let py: PythonWorker;
    let worker: Worker;
    let client: TaskClient;
    const seen: { traceId?: string | undefined } = {};

    before(async () => {
      await checkCeleryVersion(celery);
      tracing = installTracing();
      py = await startCeleryWorker(pyQueue, out, { celery });
      worker = createWorker({ logger: silentLogger });
      worker.register(traced(tsQueue), ([n]) => {
        seen.traceId = currentTraceId();
        return n;
      });
      await worker.start();
      client = await connectClient({ logger: silentLogger });
    });
    after(async () => {
      await client?.close();
      await worker?.stop();
      await py?.stop();
      await tracing?.uninstall();
      await deleteQueues(pyQueue, tsQueue);
      rmSync(out, { recursive: true, force: true });
    });

    it('keeps one trace id: Python reads the TypeScript headers, and the TypeScript worker reads the ones Python writes', async () => {
      let traceId = '';
      const report = await trace.getTracer('app').startActiveSpan('ts-request', async (root) => {
        traceId = root.spanContext().traceId;
        const withState = trace.setSpanContext(context.active(), { ...root.spanContext(), traceState: createTraceState('vendor=abc') });
        const sent = await context.with(withState, () => client.send(relay(pyQueue), [tsQueue, 'interop.traced', 5], {}));
        root.end();
        return sent.result({ timeoutMs: 20_000 });
      });
      const [producer] = await tracing.spans('apply_async/interop.relay');
      expect(producer!.spanContext().traceId).to.equal(traceId);
      // Python: the TypeScript producer's context, read from the request as the instrumentation's prerun does.
      expect(report.traceparent).to.equal(`00-${traceId}-${producer!.spanContext().spanId}-01`);
      expect(report.tracestate).to.equal('vendor=abc');
      const written = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(report.sent.traceparent ?? '');
      expect(written, `the traceparent Python wrote: ${report.sent.traceparent}`).to.not.equal(null);
      expect(written![1]).to.equal(traceId);

      // TypeScript again: the consumer span is a child of the span Python wrote, in the first trace.
      const [run] = await tracing.spans('run/interop.traced');
      expect(run!.attributes).to.include({ 'messaging.message.id': report.next_id, 'celery.task_name': 'interop.traced', 'messaging.destination.name': tsQueue });
      expect(run!.spanContext().traceId).to.equal(traceId);
      expect(run!.parentSpanContext).to.include({ traceId, spanId: written![2], isRemote: true });
      expect(run!.parentSpanContext?.traceState?.serialize()).to.equal('vendor=abc');
      expect(seen.traceId, "the TypeScript handler's currentTraceId()").to.equal(traceId);
    });
  });
}

for (const celery of celeryVersions) suite(celery);
