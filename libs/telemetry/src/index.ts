export { type LogLevel, type LogFields, type Logger, type LoggerOptions, createLogger, isLogLevel } from './log.js';
export { type LineBatch, type LineBatchOptions, batchedStdout, lineBatch } from './line-batch.js';
export { type Drainable, stopOnSignals } from './lifecycle.js';
export { type Attributes, type Counter, type Histogram, LATENCY_BUCKETS_S, counter, gauge, histogram } from './metrics.js';
export { activeTraceIds, inSpan, recordSpan, setTracingEnabled, tracer, tracingEnabled } from './tracing.js';
export { BusHealth, type WatchableBus } from './bus-health.js';
export { type ReadinessChecks, OpsServer, type OpsServerOptions } from './ops-server.js';
export { droppedMessage, subjectKind } from './bus-errors.js';
export {
  type CounterReading, type CounterRateOptions, type HistogramReading, type Labels, type MetricsReading, type Rate,
  BucketMismatchError, CounterRate, EMPTY_READING, addHistograms, counterTotal, emptyHistogram, histogramsOf, sameBounds,
} from './readings.js';
