import { isSpanContextValid, trace } from '@opentelemetry/api';

// A module of its own, so the public declarations name no OpenTelemetry type (see tracing.ts for the rest).

/** The trace id of the active span, for log lines; undefined outside a span or without an OpenTelemetry SDK. */
export function currentTraceId(): string | undefined {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && isSpanContextValid(sc) ? sc.traceId : undefined;
}
