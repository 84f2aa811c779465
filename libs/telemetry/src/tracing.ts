import { INVALID_SPAN_CONTEXT, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';

/**
 * Traces through the OpenTelemetry API only. Without an SDK (no
 * OTEL_EXPORTER_OTLP_ENDPOINT) the tracer is the API's no-op and spans cost
 * almost nothing; `tracingEnabled()` lets a per-stanza path skip even that.
 */
const TRACER = 'vigil';

export function tracer(): ReturnType<typeof trace.getTracer> {
  return trace.getTracer(TRACER);
}

let enabled = false;

/** Set by startTelemetry when spans are exported. */
export function setTracingEnabled(on: boolean): void {
  enabled = on;
}

export function tracingEnabled(): boolean {
  return enabled;
}

/** What `inSpan` hands over while spans are not exported: records nothing. */
const NOT_RECORDED: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Runs `fn` inside a new active span (so log lines written meanwhile carry
 * its trace id); the span ends when `fn` settles, with an error status if it
 * threw. While spans are not exported, `fn` runs as it is: making a span
 * active goes through the SDK's AsyncLocalStorage, and its first use turns
 * on async hooks for every promise of the process from then on (9 % of the
 * authority's CPU in a mass expiry, and every later gRPC call paid too).
 */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  if (!enabled) return fn(NOT_RECORDED);
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      span.recordException(e instanceof Error ? e : String(e));
      span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
      throw e;
    } finally {
      span.end();
    }
  });
}

/** A span for something that already happened (e.g. a login, from connect to bound), recorded at its end. */
export function recordSpan(name: string, startWallMs: number, attributes: Attributes): void {
  if (!enabled) return;
  tracer().startSpan(name, { startTime: new Date(startWallMs), attributes }).end();
}

/** Trace and span id of the active span, for log lines; undefined outside a span. */
export function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  if (!enabled) return undefined;
  const ctx = trace.getActiveSpan()?.spanContext();
  if (ctx === undefined || !trace.isSpanContextValid(ctx)) return undefined;
  return { trace_id: ctx.traceId, span_id: ctx.spanId };
}
