import { metrics, ValueType, type Attributes, type Counter, type Histogram, type ObservableResult } from '@opentelemetry/api';

/**
 * Instruments through the OpenTelemetry API only (STYLE.md 14). A process
 * that started the SDK (`@vigil/telemetry/sdk`) before creating them gets real
 * ones; otherwise they are the API's no-ops. Names follow Prometheus habits:
 * `vigil_<what>`, seconds for durations; the Prometheus exporter adds `_total`
 * to counters.
 */
const METER = 'vigil';

export type { Attributes, Counter, Histogram };

export function counter(name: string, description: string): Counter {
  return metrics.getMeter(METER).createCounter(name, { description, valueType: ValueType.INT });
}

/** Durations in seconds; `boundaries` are bucket upper bounds. */
export function histogram(name: string, description: string, boundaries: readonly number[], unit = 's'): Histogram {
  return metrics.getMeter(METER).createHistogram(name, {
    description,
    unit,
    valueType: ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: [...boundaries] },
  });
}

/** A gauge read at collection time: `observe` reports the current value(s). Returns the way to stop observing. */
export function gauge(name: string, description: string, observe: (report: (value: number, attributes?: Attributes) => void) => void): () => void {
  const g = metrics.getMeter(METER).createObservableGauge(name, { description });
  const callback = (result: ObservableResult): void => observe((value, attributes) => result.observe(value, attributes));
  g.addCallback(callback);
  return () => g.removeCallback(callback);
}

/** Bucket bounds for latencies from a millisecond to about a minute. */
export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 30, 60] as const;
