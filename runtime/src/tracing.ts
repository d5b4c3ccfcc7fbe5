import {
  context,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { FieldValue } from './amqp/frame-writer.js';
import type { TaskMessage } from './celery/message.js';

// OpenTelemetry through the API only: the application registers an SDK (tracer provider, context manager,
// propagator) or nothing, and then this costs one global lookup per message and allocates nothing.

/** What the API hands out while no SDK is registered, compared by identity. */
const NOOP_PROVIDER: TracerProvider = new ProxyTracerProvider().getDelegate();

/** The tracer of the provider registered now; not a ProxyTracer, which keeps the first provider it saw for good. */
let current: { readonly provider: TracerProvider; readonly tracer: Tracer } | undefined;

/**
 * The registered SDK's tracer, or undefined without one. Duck-typed, not instanceof: the global proxy may
 * come from another copy of the API (the SDK's), and another copy only registers one when an SDK is set.
 */
function activeTracer(): Tracer | undefined {
  const p = trace.getTracerProvider() as TracerProvider & { getDelegate?: () => TracerProvider };
  const provider = p.getDelegate?.() ?? p;
  if (provider === NOOP_PROVIDER) return undefined;
  if (current?.provider !== provider) current = { provider, tracer: provider.getTracer('@taskbus/runtime') };
  return current.tracer;
}

/** A message's header table, written into directly: no carrier object in between. */
type HeaderTable = Record<string, unknown>;

/** Strings only, which the frame encoder and amqplib both write as AMQP long strings, as py-amqp does. */
const setter: TextMapSetter<HeaderTable> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

const getter: TextMapGetter<Readonly<Record<string, unknown>>> = {
  keys: (carrier) => Object.keys(carrier),
  // py-amqp writes str as a long string, which amqplib decodes to a string; a byte array arrives as a Buffer.
  get: (carrier, key) => {
    const v = carrier[key];
    return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
  },
};

/** A producer or consumer span with the context it is active in. */
export class TaskSpan {
  constructor(
    readonly span: Span,
    readonly context: Context,
  ) {}

  /** Runs `fn` with this span active: the handler's own spans and sends become its children. */
  run<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  /** Writes this span's context into `headers` (W3C `traceparent`/`tracestate` with the default propagator). */
  inject(headers: HeaderTable): void {
    propagation.inject(this.context, headers, setter);
  }

  fail(error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    this.span.recordException(e);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: `${e.name}: ${e.message}` });
  }

  end(error?: unknown): void {
    if (error !== undefined) this.fail(error);
    this.span.end();
  }
}

// Attribute names: the messaging semantic conventions (the older `messaging.operation` and the newer
// `messaging.operation.type` both, as back ends read either), plus the two opentelemetry-instrumentation-celery
// sets, so that Python and TypeScript hops of one trace read alike.
const MESSAGING = { 'messaging.system': 'rabbitmq' } as const;

/**
 * The producer span of one send, its context written into the message's headers (the varying ones, which the
 * encoded-frame publisher writes). Without a tracer provider nothing at all is done, not even the propagator's
 * inject (measured: about 10 ns a send for the check, against 45 ns with a no-op inject).
 */
export function startPublish(headers: Record<string, FieldValue | undefined>, task: string, id: string, queue: string, bytes: number): TaskSpan | undefined {
  const tracer = activeTracer();
  if (!tracer) return undefined;
  const attributes: Attributes = {
    ...MESSAGING,
    'messaging.destination.name': queue,
    'messaging.operation': 'publish',
    'messaging.operation.type': 'send',
    'messaging.message.id': id,
    'messaging.message.body.size': bytes,
    'celery.task_name': task,
    'celery.action': 'apply_async',
  };
  // Named as the Python instrumentation names its spans: apply_async/<task>, run/<task>.
  const span = tracer.startSpan(`apply_async/${task}`, { kind: SpanKind.PRODUCER, attributes });
  const s = new TaskSpan(span, trace.setSpan(context.active(), span));
  s.inject(headers);
  return s;
}

/**
 * The consumer span of one handler run: a child of the context the message carries (a TypeScript or Python
 * producer, or the attempt before a retry), a new trace when it carries none. Undefined without an SDK.
 */
export function startProcess(headers: Readonly<Record<string, unknown>> | undefined, m: TaskMessage, queue: string, routingKey: string): TaskSpan | undefined {
  const tracer = activeTracer();
  if (!tracer) return undefined;
  // From the root: the consumer's own async context says nothing about where this message came from.
  const parent = headers ? propagation.extract(ROOT_CONTEXT, headers, getter) : ROOT_CONTEXT;
  const attributes: Attributes = {
    ...MESSAGING,
    'messaging.destination.name': queue,
    'messaging.rabbitmq.destination.routing_key': routingKey,
    'messaging.operation': 'process',
    'messaging.operation.type': 'process',
    'messaging.message.id': m.id,
    'celery.task_name': m.task,
    'celery.action': 'run',
  };
  if (m.retries > 0) attributes['celery.retries'] = m.retries;
  const span = tracer.startSpan(`run/${m.task}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  return new TaskSpan(span, trace.setSpan(parent, span));
}
