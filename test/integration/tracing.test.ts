import { createRequire } from 'node:module';
import { context, createTraceState, propagation, SpanStatusCode, trace, TraceFlags, type TextMapPropagator } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { Type } from '@sinclair/typebox';
import { connectClient, createWorker, currentTraceId, defineTask, silentLogger, type TaskClient, type Worker } from '@taskbus/runtime';
import { expect } from 'chai';
import { deleteQueues, rawBroker, uniqueQueue, waitFor } from '../support/broker.js';
import { installTracing, kindName, type TestTracing } from '../support/tracing.js';

const echo = (queue: string, maxAttempts = 1) =>
  defineTask<[n: number], Record<string, never>, number>({
    name: 'tracing.echo',
    queue,
    args: { n: Type.Integer() },
    result: Type.Integer(),
    retry: { maxAttempts, initialDelayMs: 100, maxDelayMs: 100 },
  });

/** Counts amqplib's own publishes on every confirm channel: the encoded-frame path does not use them. */
function countFallbackPublishes(): { readonly count: () => number; restore(): void } {
  const { ConfirmChannel } = createRequire(import.meta.url)('amqplib/lib/channel_model.js') as { ConfirmChannel: { prototype: { publish: (...a: unknown[]) => boolean } } };
  const original = ConfirmChannel.prototype.publish;
  let n = 0;
  ConfirmChannel.prototype.publish = function (this: unknown, ...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  return { count: () => n, restore: () => void (ConfirmChannel.prototype.publish = original) };
}

describe('OpenTelemetry without an SDK', function () {
  this.timeout(30_000);
  const queue = uniqueQueue('otel-off');
  let client: TaskClient;
  before(async () => (client = await connectClient({ logger: silentLogger })));
  after(async () => {
    await client.close();
    await deleteQueues(queue);
  });

  it('adds no header to the message and has no trace id', async () => {
    expect(trace.getActiveSpan()).to.equal(undefined);
    await client.send(echo(queue), [1], {}, { ignoreResult: true });
    const raw = await rawBroker();
    try {
      const m = await raw.channel.get(queue, { noAck: true });
      if (!m) throw new Error('message missing');
      expect(m.properties.headers).to.not.have.any.keys('traceparent', 'tracestate');
      expect(m.properties.headers).to.include({ task: 'tracing.echo' });
    } finally {
      await raw.close();
    }
    expect(currentTraceId()).to.equal(undefined);
  });
});

describe('OpenTelemetry with an SDK (in-memory exporter, real broker)', function () {
  this.timeout(30_000);
  let tracing: TestTracing;
  let client: TaskClient;
  const queues: string[] = [];
  const workers: Worker[] = [];
  const queue = (prefix: string) => {
    const q = uniqueQueue(prefix);
    queues.push(q);
    return q;
  };
  async function worker(...register: ((w: Worker) => void)[]): Promise<Worker> {
    const w = createWorker({ logger: silentLogger });
    for (const r of register) r(w);
    await w.start();
    workers.push(w);
    return w;
  }

  before(async () => {
    tracing = installTracing();
    client = await connectClient({ logger: silentLogger });
  });
  beforeEach(() => tracing.exporter.reset());
  after(async () => {
    for (const w of workers) await w.stop();
    await client?.close();
    await deleteQueues(...queues);
    await tracing?.uninstall();
  });

  it('a send makes a producer span, the handler run a consumer span in the same trace, child of it, with the messaging attributes', async () => {
    const q = queue('otel-run');
    const spec = echo(q);
    const seen: { traceId?: string | undefined; inner?: string } = {};
    await worker((w) =>
      w.register(spec, ([n]) => {
        seen.traceId = currentTraceId();
        // A span the handler makes is a child of the consumer span.
        trace.getTracer('handler').startActiveSpan('inner', (s) => {
          seen.inner = s.spanContext().spanId;
          s.end();
        });
        return n * 2;
      }),
    );
    const sent = await client.send(spec, [21], {});
    expect(await sent.result({ timeoutMs: 10_000 })).to.equal(42);
    const [producer] = await tracing.spans('apply_async/tracing.echo');
    const [consumer] = await tracing.spans('run/tracing.echo');
    const [inner] = await tracing.spans('inner');
    expect(kindName(producer!)).to.equal('PRODUCER');
    expect(kindName(consumer!)).to.equal('CONSUMER');
    expect(producer!.attributes).to.deep.include({
      'messaging.system': 'rabbitmq',
      'messaging.destination.name': q,
      'messaging.operation': 'publish',
      'messaging.message.id': sent.id,
      'celery.task_name': 'tracing.echo',
      'celery.action': 'apply_async',
    });
    expect(consumer!.attributes).to.deep.include({
      'messaging.system': 'rabbitmq',
      'messaging.destination.name': q,
      'messaging.rabbitmq.destination.routing_key': q,
      'messaging.operation': 'process',
      'messaging.message.id': sent.id,
      'celery.task_name': 'tracing.echo',
      'celery.action': 'run',
    });
    const traceId = producer!.spanContext().traceId;
    expect(producer!.parentSpanContext, 'a send outside any span starts a trace').to.equal(undefined);
    expect(consumer!.spanContext().traceId).to.equal(traceId);
    expect(consumer!.parentSpanContext?.spanId).to.equal(producer!.spanContext().spanId);
    expect(consumer!.parentSpanContext?.isRemote).to.equal(true);
    expect(inner!.parentSpanContext?.spanId).to.equal(consumer!.spanContext().spanId);
    expect(seen).to.deep.equal({ traceId, inner: inner!.spanContext().spanId });
    expect(consumer!.status.code).to.equal(SpanStatusCode.UNSET);
  });

  it("the default logger puts the trace id on the task's log lines, beside the task id", async () => {
    const q = queue('otel-log');
    const spec = echo(q);
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    const before = { format: process.env['LOG_FORMAT'], level: process.env['LOG_LEVEL'] };
    process.env['LOG_FORMAT'] = 'json';
    process.env['LOG_LEVEL'] = 'info';
    // The default logger writes to stderr: read it there, as an operator's log shipper would.
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => (lines.push(String(chunk)), true)) as typeof process.stderr.write;
    let w: Worker | undefined;
    try {
      w = createWorker({});
      w.register(spec, ([n]) => n);
      await w.start();
      const sent = await client.send(spec, [1], {});
      await sent.result({ timeoutMs: 10_000 });
      const [consumer] = await tracing.spans('run/tracing.echo');
      await waitFor('the succeeded line', () => lines.find((l) => l.includes('task succeeded')));
      const line = JSON.parse(lines.find((l) => l.includes('task succeeded'))!) as Record<string, unknown>;
      expect(line).to.include({ id: sent.id, task: 'tracing.echo', trace_id: consumer!.spanContext().traceId });
    } finally {
      process.stderr.write = write;
      for (const [k, v] of Object.entries({ LOG_FORMAT: before.format, LOG_LEVEL: before.level })) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
      await w?.stop();
    }
  });

  it('a send inside an application span is its child; traceparent and tracestate are on the wire, through the encoded frames', async () => {
    const q = queue('otel-wire');
    const fallback = countFallbackPublishes();
    let traceId = '';
    let spanId = '';
    try {
      await trace.getTracer('app').startActiveSpan('request', async (root) => {
        traceId = root.spanContext().traceId;
        // A vendor's tracestate entry, as a caller upstream may have set it.
        const withState = trace.setSpanContext(context.active(), { ...root.spanContext(), traceState: createTraceState('vendor=abc') });
        await context.with(withState, () => client.send(echo(q), [1], {}, { ignoreResult: true }));
        root.end();
      });
    } finally {
      fallback.restore();
    }
    expect(fallback.count(), "amqplib's own publish used instead of the encoded frames").to.equal(0);
    const [producer] = await tracing.spans('apply_async/tracing.echo');
    spanId = producer!.spanContext().spanId;
    expect(producer!.spanContext().traceId).to.equal(traceId);
    const raw = await rawBroker();
    try {
      const m = await raw.channel.get(q, { noAck: true });
      if (!m) throw new Error('message missing');
      const headers = m.properties.headers ?? {};
      expect(headers['traceparent']).to.equal(`00-${traceId}-${spanId}-01`);
      expect(headers['tracestate']).to.equal('vendor=abc');
      expect(headers).to.include({ task: 'tracing.echo', lang: 'py' });
    } finally {
      await raw.close();
    }
  });

  it('a failed attempt is an ERROR span with the exception; the retried copy keeps the trace, its run a child of the failed one', async () => {
    const q = queue('otel-retry');
    const spec = echo(q, 2);
    let calls = 0;
    await worker((w) =>
      w.register(spec, ([n]) => {
        if (calls++ === 0) throw new RangeError('first attempt fails');
        return n;
      }),
    );
    const sent = await client.send(spec, [7], {});
    expect(await sent.result({ timeoutMs: 10_000 })).to.equal(7);
    const [producer] = await tracing.spans('apply_async/tracing.echo');
    const runs = await tracing.spans('run/tracing.echo', 2);
    const [first, second] = runs.sort((a, b) => Number(a.attributes['celery.retries'] ?? 0) - Number(b.attributes['celery.retries'] ?? 0));
    expect(first!.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: 'RangeError: first attempt fails' });
    expect(first!.events.map((e) => [e.name, e.attributes?.['exception.type'], e.attributes?.['exception.message']])).to.deep.equal([['exception', 'RangeError', 'first attempt fails']]);
    expect(second!.status.code).to.equal(SpanStatusCode.UNSET);
    expect(second!.attributes).to.include({ 'celery.retries': 1, 'messaging.message.id': sent.id });
    const traceId = producer!.spanContext().traceId;
    expect([first!.spanContext().traceId, second!.spanContext().traceId]).to.deep.equal([traceId, traceId]);
    expect(first!.parentSpanContext?.spanId).to.equal(producer!.spanContext().spanId);
    expect(second!.parentSpanContext?.spanId).to.equal(first!.spanContext().spanId);
  });

  it('a failure past the retries is an ERROR span too, and a publish that fails ends its producer span with ERROR', async () => {
    const q = queue('otel-fail');
    const spec = echo(q);
    await worker((w) => w.register(spec, () => Promise.reject(new TypeError('always'))));
    const sent = await client.send(spec, [1], {});
    await sent.result({ timeoutMs: 10_000 }).then(
      () => expect.fail('the task must fail'),
      () => undefined,
    );
    const [run] = await tracing.spans('run/tracing.echo');
    expect(run!.status).to.deep.equal({ code: SpanStatusCode.ERROR, message: 'TypeError: always' });
    // A task id over 255 bytes cannot be put in an AMQP short string: the publish is refused, its span ends in error.
    await client.send(spec, [1], {}, { taskId: 'x'.repeat(300), ignoreResult: true }).then(
      () => expect.fail('the publish must fail'),
      () => undefined,
    );
    const refused = await waitFor('the refused publish span', () => tracing.exporter.getFinishedSpans().find((s) => s.attributes['messaging.message.id'] === 'x'.repeat(300)));
    expect(refused.status.code).to.equal(SpanStatusCode.ERROR);
  });

  it('reads a traceparent and tracestate another producer wrote (as Python Celery with its instrumentation does)', async () => {
    const q = queue('otel-foreign');
    const spec = echo(q);
    await worker((w) => w.register(spec, ([n]) => n));
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const raw = await rawBroker();
    try {
      const id = 'foreign-1';
      raw.channel.sendToQueue(q, Buffer.from('[[5], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'), {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        correlationId: id,
        headers: { lang: 'py', task: 'tracing.echo', id, traceparent: `00-${traceId}-${parent}-01`, tracestate: 'py=1,vendor=abc' },
      });
      const [run] = await tracing.spans('run/tracing.echo');
      expect(run!.spanContext().traceId).to.equal(traceId);
      expect(run!.parentSpanContext).to.include({ spanId: parent, traceFlags: TraceFlags.SAMPLED, isRemote: true });
      expect(run!.parentSpanContext?.traceState?.serialize()).to.equal('py=1,vendor=abc');
      // The W3C propagator passes the tracestate on to children.
      expect(run!.spanContext().traceState?.serialize()).to.equal('py=1,vendor=abc');
    } finally {
      await raw.close();
    }
  });

  it('a send from inside a handler continues the trace: its producer span is a child of the consumer span', async () => {
    const q = queue('otel-chain');
    const first = defineTask<[n: number], Record<string, never>, string>({ name: 'tracing.first', queue: q, args: { n: Type.Integer() }, result: Type.String() });
    const second = echo(q);
    await worker(
      (w) => w.register(first, async ([n]) => (await client.send(second, [n], {}, { ignoreResult: true })).id),
      (w) => w.register(second, ([n]) => n),
    );
    const secondId = await (await client.send(first, [3], {})).result({ timeoutMs: 10_000 });
    const [run1] = await tracing.spans('run/tracing.first');
    const [publish2] = await tracing.spans('apply_async/tracing.echo');
    const [run2] = await tracing.spans('run/tracing.echo');
    expect(publish2!.attributes['messaging.message.id']).to.equal(secondId);
    expect(publish2!.parentSpanContext?.spanId).to.equal(run1!.spanContext().spanId);
    expect(run2!.parentSpanContext?.spanId).to.equal(publish2!.spanContext().spanId);
    expect(new Set([run1, publish2, run2].map((s) => s!.spanContext().traceId)).size).to.equal(1);
  });

  it('a tracer provider registered or replaced after the client started is the one used', async () => {
    const q = queue('otel-replaced');
    await tracing.uninstall();
    await client.send(echo(q), [1], {}, { ignoreResult: true });
    expect(tracing.exporter.getFinishedSpans(), 'no SDK: no span').to.deep.equal([]);
    tracing = installTracing();
    await client.send(echo(q), [2], {}, { ignoreResult: true });
    await tracing.spans('apply_async/tracing.echo');
  });

  it('writes what the global propagator writes: the user chooses it (here one of their own instead of W3C)', async () => {
    const q = queue('otel-propagator');
    const own: TextMapPropagator = {
      inject: (ctx, carrier, setter) => setter.set(carrier, 'x-trace', trace.getSpanContext(ctx)?.traceId ?? 'none'),
      extract: (ctx) => ctx,
      fields: () => ['x-trace'],
    };
    propagation.disable();
    propagation.setGlobalPropagator(own);
    try {
      await client.send(echo(q), [1], {}, { ignoreResult: true });
    } finally {
      propagation.disable();
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    }
    const [producer] = await tracing.spans('apply_async/tracing.echo');
    const raw = await rawBroker();
    try {
      const m = await raw.channel.get(q, { noAck: true });
      if (!m) throw new Error('message missing');
      expect(m.properties.headers).to.include({ 'x-trace': producer!.spanContext().traceId });
      expect(m.properties.headers).to.not.have.any.keys('traceparent', 'tracestate');
    } finally {
      await raw.close();
    }
  });
});
