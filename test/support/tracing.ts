import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { waitFor } from './broker.js';

/** An OpenTelemetry SDK as an application would register it, exporting to memory. */
export interface TestTracing {
  readonly exporter: InMemorySpanExporter;
  /** Finished spans named `name`, waiting until there are `count` of them. */
  spans(name: string, count?: number): Promise<ReadableSpan[]>;
  /** Unregisters everything, so later test files run without an SDK. */
  uninstall(): Promise<void>;
}

export function installTracing(): TestTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  if (!trace.setGlobalTracerProvider(provider) || !context.setGlobalContextManager(contextManager) || !propagation.setGlobalPropagator(new W3CTraceContextPropagator())) {
    throw new Error('an OpenTelemetry global was already registered (a test file did not uninstall its SDK)');
  }
  return {
    exporter,
    spans: (name, count = 1) =>
      waitFor(`${count} finished span(s) named ${name}`, () => {
        const found = exporter.getFinishedSpans().filter((s) => s.name === name);
        return found.length >= count ? found : undefined;
      }),
    async uninstall() {
      trace.disable();
      context.disable();
      propagation.disable();
      await provider.shutdown();
    },
  };
}

export const kindName = (s: ReadableSpan) => SpanKind[s.kind];
